"""Export a loaded sentence-transformers model's transformer to ONNX and check the copy.

The only part of the ONNX path that needs torch: run once per model files (at first use, or
by ``newsbot export-model`` in the image build), never on a question.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from index.onnx_encoder import (
    EXPORT_FORMAT,
    MANIFEST,
    ONNX_FILE,
    PROBES,
    ModelSpec,
    OnnxEncoder,
    OnnxUnavailable,
    check_probes,
    model_key,
)

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
log = logging.getLogger(__name__)


def export_copy(model, spec: ModelSpec, root: Path) -> Path:
    """Write the verified copy of ``model`` (loaded from ``spec.directory``) under ``root``
    and return its directory. A copy whose vectors differ from the model's is recorded as
    refused, with the reason, so later starts do not export it again, and
    ``OnnxUnavailable`` says why."""
    key = model_key(spec.directory)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    staging.chmod(0o755)  # an image's build user exports; its runtime user reads
    try:
        expected = model.encode(
            list(PROBES), normalize_embeddings=True, convert_to_numpy=True
        ).astype(np.float32)
        manifest = {
            "format": EXPORT_FORMAT,
            "model": str(spec.directory),
            "probes": list(PROBES),
            "vectors": expected.tolist(),
            "status": "ok",
        }
        try:
            _export_transformer(model, staging / ONNX_FILE)
            check_probes(OnnxEncoder(staging, spec).encode(PROBES), expected, staging)
        except Exception as exc:  # refused for good, so later starts skip straight to torch
            reason = exc if isinstance(exc, OnnxUnavailable) else f"{type(exc).__name__}: {exc}"
            manifest |= {"status": "refused", "reason": f"ONNX export refused: {reason}"}
            (staging / ONNX_FILE).unlink(missing_ok=True)
        (staging / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        directory = _publish(staging, root / key)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _drop_older_copies(root, spec.directory, keep=directory)
    if manifest["status"] != "ok":
        raise OnnxUnavailable(manifest["reason"])
    return directory


def _export_transformer(model, target: Path) -> None:
    """The transformer alone (ids -> token vectors), with batch and length dynamic; pooling
    and normalizing stay in numpy, where span vectors share them. The TorchScript exporter
    (``dynamo=False``) handles BERT-style models without onnxscript."""
    import torch

    transformer = model[0].auto_model.eval()
    features = model.preprocess([PROBES[1], PROBES[0]])
    names = [n for n in _INPUTS if n in features]

    class TokenVectors(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            inputs = dict(zip(names, tensors, strict=True))
            return self.transformer(**inputs).last_hidden_state

    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow
        torch.onnx.export(
            TokenVectors().eval(),
            tuple(features[n] for n in names),
            str(target),
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _publish(staging: Path, directory: Path) -> Path:
    """Move the finished copy into place; another process that got there first wins."""
    try:
        staging.rename(directory)
    except OSError:
        if not (directory / MANIFEST).is_file():
            shutil.rmtree(directory, ignore_errors=True)
            staging.rename(directory)
    return directory


def _drop_older_copies(root: Path, model_dir: Path, keep: Path) -> None:
    """Copies of earlier versions of the same model's files: 90 MB each, never read again."""
    for manifest in root.glob(f"*/{MANIFEST}"):
        directory = manifest.parent
        if directory == keep:
            continue
        try:
            same_model = json.loads(manifest.read_text(encoding="utf-8")).get("model")
        except (OSError, ValueError):
            continue
        if same_model == str(model_dir):
            log.info("removing the ONNX copy of earlier model files: %s", directory)
            shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m index.onnx_export [MODEL]``: export the model's copy now (the image build
    does, so no start pays for it) and fail unless the copy serves."""
    import sys

    from index.dense import Encoder
    from index.onnx_encoder import OnnxEncoder

    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    backend = Encoder(args[0] if args else None).backend
    if not isinstance(backend, OnnxEncoder):
        print(
            "error: the ONNX copy cannot serve this model (see the warning above)", file=sys.stderr
        )
        return 1
    print(backend.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
