"""The ONNX copy of the model: same vectors as sentence-transformers, the export cache, the
torch fallback, and span (sentence) vectors from one forward pass."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import index.onnx_export
from index.dense import Encoder, _TorchEncoder, default_model_path
from index.onnx_encoder import MANIFEST, ONNX_FILE, OnnxEncoder, OnnxUnavailable

TEXTS = (
    "When is the Shangri-La Dialogue?",
    "Who is the Japanese government's top spokesman, and what did he say about the radar "
    "link with South Korea that defence ministers plan to discuss in Singapore next month?",
    "F-35",
    "  Zürich: CHF 10.5bn — up 3%  ",
    "word " * 400,  # past the model's 256 word pieces: truncated alike
)
WINDOW = (
    "Radar link agreed. Japan and South Korea will share missile warning data in real time. "
    "The central bank left interest rates unchanged at 4.5 percent on Thursday."
)
SENTENCES = ((19, 86), (87, len(WINDOW)))


@pytest.fixture(scope="module")
def torch_encoder() -> _TorchEncoder:
    return _TorchEncoder.load(None, 32)


def test_the_onnx_copy_gives_the_vectors_sentence_transformers_gives(encoder, torch_encoder):
    assert isinstance(encoder.backend, OnnxEncoder)
    onnx = encoder.encode(list(TEXTS))
    np.testing.assert_allclose(onnx, torch_encoder.encode(list(TEXTS)), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)
    assert encoder.encode_question(TEXTS[0]) == pytest.approx(onnx[0], abs=1e-6)


def test_span_vectors_come_from_the_window_pass_and_agree_on_both_paths(encoder, torch_encoder):
    groups = [[WINDOW, TEXTS[1]], [TEXTS[4]]]
    spans = [[list(SENTENCES), [(0, 3)]], [[(0, 4), (5000, 5010)]]]
    onnx = encoder.encode_windows(groups, spans=spans)
    torch_path = Encoder()
    torch_path._backend = torch_encoder
    fallback = torch_path.encode_windows(groups, spans=spans)

    assert onnx.spans is not None and fallback.spans is not None
    assert list(onnx.spans.counts) == [2, 1, 2]
    np.testing.assert_allclose(onnx.vectors, fallback.vectors, atol=1e-4)
    np.testing.assert_allclose(onnx.spans.vectors, fallback.spans.vectors, atol=1e-4)
    # The window vectors are the ones ``encode`` gives: the spans cost no second pass.
    np.testing.assert_allclose(
        onnx.vectors, encoder.encode([WINDOW, TEXTS[1], TEXTS[4]]), atol=1e-5
    )
    # Each sentence's vector is nearer its own sentence read alone than the other's.
    rates, radar = onnx.spans.of_text(0)[1], onnx.spans.of_text(0)[0]
    alone = encoder.encode([WINDOW[slice(*SENTENCES[0])], WINDOW[slice(*SENTENCES[1])]])
    assert radar @ alone[0] > radar @ alone[1] and rates @ alone[1] > rates @ alone[0]
    assert np.linalg.norm(radar) == pytest.approx(1.0, abs=1e-5)
    assert not onnx.spans.of_text(2)[1].any()  # past the truncation: no tokens, a zero row


def test_spans_must_match_the_windows(encoder):
    with pytest.raises(ValueError, match="one list of spans per window"):
        encoder.encode_windows([[WINDOW, WINDOW]], spans=[[list(SENTENCES)]])


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """A private copy of the model's files, to change without touching the real one."""
    return Path(shutil.copytree(default_model_path(), tmp_path / "model"))


def _sharing(encoder: Encoder, torch_encoder: _TorchEncoder) -> Encoder:
    """``encoder`` with the module's torch model as its fallback and exporter's source (the
    same files as any copy of the model here): loading it again costs seconds a test."""
    encoder._torch = torch_encoder
    return encoder


def _exports(monkeypatch) -> list[Path]:
    calls: list[Path] = []
    real = index.onnx_export.export_copy

    def counted(model, spec, root):
        calls.append(spec.directory)
        return real(model, spec, root)

    monkeypatch.setattr(index.onnx_export, "export_copy", counted)
    return calls


def test_the_copy_is_exported_once_and_again_when_the_model_files_change(
    model_copy, tmp_path, monkeypatch, torch_encoder
):
    cache = tmp_path / "cache"
    exports = _exports(monkeypatch)
    first = _sharing(Encoder(str(model_copy), cache_dir=cache), torch_encoder)
    expected = torch_encoder.encode([TEXTS[1]])
    np.testing.assert_allclose(first.encode([TEXTS[1]]), expected, atol=1e-4)
    assert isinstance(first.backend, OnnxEncoder) and len(exports) == 1
    (copy_dir,) = [p for p in cache.iterdir() if not p.name.startswith(".")]

    second = Encoder(str(model_copy), cache_dir=cache)  # a second start: the copy is reused
    np.testing.assert_allclose(second.encode([TEXTS[1]]), expected, atol=1e-4)
    assert isinstance(second.backend, OnnxEncoder) and len(exports) == 1

    config = model_copy / "config.json"
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: rebuilt
    third = _sharing(Encoder(str(model_copy), cache_dir=cache), torch_encoder)
    np.testing.assert_allclose(third.encode([TEXTS[1]]), expected, atol=1e-4)
    assert len(exports) == 2
    remaining = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert len(remaining) == 1 and remaining[0] != copy_dir  # the stale copy is gone


def _one_copy(encoder: Encoder) -> Path:
    """The session encoder's copy, copied into a cache of this test's own."""
    backend = encoder.backend
    assert isinstance(backend, OnnxEncoder)
    return backend.directory


@pytest.mark.parametrize("damage", ["missing", "corrupt", "wrong vectors"])
def test_an_unusable_copy_falls_back_to_torch_with_one_warning(
    encoder, tmp_path, caplog, damage, torch_encoder
):
    source = _one_copy(encoder)
    cache = tmp_path / "cache"
    copy = Path(shutil.copytree(source, cache / source.name))
    if damage == "missing":
        (copy / ONNX_FILE).unlink()
    elif damage == "corrupt":
        (copy / ONNX_FILE).write_bytes(b"\x08\x07 not a protobuf" * 100)
    else:
        manifest = json.loads((copy / MANIFEST).read_text())
        manifest["vectors"][0][0] += 0.01
        (copy / MANIFEST).write_text(json.dumps(manifest))

    fallback = _sharing(Encoder(cache_dir=cache), torch_encoder)
    with caplog.at_level(logging.WARNING):
        vectors = fallback.encode([TEXTS[0]])
    np.testing.assert_allclose(vectors, torch_encoder.encode([TEXTS[0]]), atol=1e-5)
    assert isinstance(fallback.backend, _TorchEncoder)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    assert str(copy) in warnings[0].getMessage()
    assert "torch" in warnings[0].getMessage()


def test_a_copy_refused_at_export_is_not_exported_again(
    model_copy, tmp_path, monkeypatch, caplog, torch_encoder
):
    def drifting(got, expected, where):
        raise OnnxUnavailable(f"{where}: vectors differ from the model's by 0.5 (over 0.0001)")

    monkeypatch.setattr(index.onnx_export, "check_probes", drifting)
    exports = _exports(monkeypatch)
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING):
        for _ in range(2):  # two starts: one export, refused, then the record of it
            encoder = _sharing(Encoder(str(model_copy), cache_dir=cache), torch_encoder)
            assert isinstance(encoder.backend, _TorchEncoder)
    assert len(exports) == 1
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(messages) == 2 and all("differ from the model's by 0.5" in m for m in messages)
    (copy,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert not (copy / ONNX_FILE).exists()  # 90 MB not kept for a refused copy
