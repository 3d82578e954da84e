"""The sentence-transformers model run by ONNX Runtime from an exported copy, without torch.

Importing torch and sentence-transformers takes seconds, which every one-shot command, the
healthcheck and a container restart paid before embedding one question; onnxruntime and
tokenizers load in a tenth of a second. The copy is made once per model (``onnx_export``,
which does need torch) into a cache directory named by the model files' sizes and times, and
is used only after its vectors matched the model's on probe texts: at export, and again at
every open against the vectors the model gave then.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.errors import OnnxUnavailable
from index.pooling import normalized, pool

__all__ = ["ModelSpec", "OnnxEncoder", "OnnxUnavailable", "TokenOutputs", "open_copy"]

# Bumped when the export or the manifest changes shape: older copies are then re-exported.
EXPORT_FORMAT = 1
MANIFEST = "manifest.json"
ONNX_FILE = "model.onnx"
# Vectors of the copy and of the model must agree this closely, element by element.
TOLERANCE = 1e-4
PROBES = (
    "Who?",
    "When is the Shangri-La Dialogue, and which defence ministers are expected to meet on its "
    "sidelines in Singapore, according to reports from Japan and South Korea published in May?",
    "  Zürich's 2024 budget: CHF 10.5bn (up 3%) — see p. 12.  ",
)
_POOLING_FLAGS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
}


@dataclass(frozen=True)
class ModelSpec:
    """What sentence-transformers does with the model's transformer output, read from its
    directory: only a Transformer, a Pooling and an optional Normalize module are
    reproduced here."""

    directory: Path
    max_seq_length: int
    lowercase: bool
    pooling: str
    dimension: int

    @classmethod
    def read(cls, directory: Path) -> ModelSpec:
        try:
            modules = json.loads((directory / "modules.json").read_text(encoding="utf-8"))
            kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
            if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
                raise OnnxUnavailable(f"{directory}: modules {kinds} are not reproduced in ONNX")
            if not (directory / "tokenizer.json").is_file():
                raise OnnxUnavailable(f"{directory}: no tokenizer.json")
            st_config = _json_or_empty(directory / "sentence_bert_config.json")
            pooling = json.loads(
                (directory / modules[1]["path"] / "config.json").read_text(encoding="utf-8")
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise OnnxUnavailable(
                f"{directory}: not a readable sentence-transformers model ({exc})"
            ) from exc
        modes = [mode for flag, mode in _POOLING_FLAGS.items() if pooling.get(flag)]
        if len(modes) != 1 or any(
            pooling.get(k) for k in ("pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
        ):
            raise OnnxUnavailable(f"{directory}: pooling {pooling} is not reproduced in ONNX")
        return cls(
            directory=directory,
            max_seq_length=int(st_config.get("max_seq_length") or 512),
            lowercase=bool(st_config.get("do_lower_case")),
            pooling=modes[0],
            dimension=int(pooling["word_embedding_dimension"]),
        )


def _json_or_empty(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def cache_root() -> Path:
    """Where exported copies live: the XDG cache (~/.cache/newsbot/onnx by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "newsbot" / "onnx"


def model_key(directory: Path) -> str:
    """A name for the model's files as they are now: their paths, sizes and modification
    times, so a changed or replaced file gets a new copy without hashing 90 MB each start."""
    digest = hashlib.sha256(f"format {EXPORT_FORMAT}\n".encode())
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory)
        if relative.parts[0].startswith("."):
            continue
        stat = path.stat()
        digest.update(f"{relative}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return f"{directory.name}-{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class TokenOutputs:
    """Texts' sentence vectors and, per text, its real tokens' vectors and character offsets
    (special tokens at (0, 0)), from one forward pass."""

    vectors: np.ndarray  # (texts, dim) float32, as ``encode`` gives them
    tokens: list[np.ndarray]  # each (tokens, dim) float32
    offsets: list[np.ndarray]  # each (tokens, 2) int64


class OnnxEncoder:
    """Texts -> vectors through ONNX Runtime and the ``tokenizers`` package."""

    def __init__(self, directory: Path, spec: ModelSpec, batch_size: int = 32) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.spec = spec
        self.directory = directory
        self.batch_size = batch_size
        self.dimension = spec.dimension
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # its graph notes are not the operator's concern
        try:
            self._session = onnxruntime.InferenceSession(
                str(directory / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = Tokenizer.from_file(str(spec.directory / "tokenizer.json"))
        except Exception as exc:  # a truncated or foreign file: onnxruntime's own error text
            raise OnnxUnavailable(f"{directory / ONNX_FILE}: cannot be loaded ({exc})") from exc
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(spec.max_seq_length)
        self._inputs = [i.name for i in self._session.get_inputs()]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        return self.encode_tokens(texts, keep_tokens=False).vectors

    def encode_tokens(self, texts: Sequence[str], *, keep_tokens: bool = True) -> TokenOutputs:
        """Texts in batches of similar length (padding costs as much as text), each batch
        padded to its longest text, as sentence-transformers batches them."""
        prepared = [t.lower() for t in texts] if self.spec.lowercase else list(texts)
        encodings = self._tokenizer.encode_batch(prepared)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        tokens: list[np.ndarray] = [np.empty(0)] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            output, mask = self._run([encodings[i] for i in batch])
            vectors[batch] = normalized(pool(output, mask, self.spec.pooling))
            if keep_tokens:
                for row, i in enumerate(batch):
                    tokens[i] = np.ascontiguousarray(output[row, : len(encodings[i].ids)])
        offsets = [np.asarray(e.offsets, dtype=np.int64) for e in encodings] if keep_tokens else []
        return TokenOutputs(vectors, tokens if keep_tokens else [], offsets)

    def _run(self, encodings: list) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
            types[row, : len(e.ids)] = e.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        (output,) = self._session.run(None, {name: feeds[name] for name in self._inputs})
        return output, mask


def open_copy(spec: ModelSpec, root: Path, batch_size: int = 32) -> OnnxEncoder | None:
    """The model's verified ONNX copy under ``root``; None when none was exported yet.
    Raises ``OnnxUnavailable`` when one was, but was refused at export or no longer gives
    the vectors the model gave then."""
    directory = root / model_key(spec.directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OnnxUnavailable(f"{directory / MANIFEST}: unreadable ({exc})") from exc
    if manifest.get("status") != "ok":
        raise OnnxUnavailable(manifest.get("reason") or f"{directory}: refused at export")
    encoder = OnnxEncoder(directory, spec, batch_size)
    check_probes(encoder.encode(manifest["probes"]), np.asarray(manifest["vectors"]), directory)
    return encoder


def check_probes(got: np.ndarray, expected: np.ndarray, where: Path) -> None:
    if got.shape != expected.shape:
        raise OnnxUnavailable(
            f"{where}: vectors of shape {got.shape}, the model's {expected.shape}"
        )
    worst = float(np.abs(got - expected).max()) if got.size else 0.0
    if not worst <= TOLERANCE:  # also NaN
        raise OnnxUnavailable(
            f"{where}: vectors differ from the model's by {worst:.2g} (over {TOLERANCE:g})"
        )
