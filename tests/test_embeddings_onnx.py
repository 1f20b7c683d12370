"""The ONNX backend gives sentence-transformers' vectors; its export is atomic and shared."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import embeddings.onnx as onnx_module
from embeddings.batching import MicroBatcher, MicroBatchingEmbedder
from embeddings.factory import build_embedder
from embeddings.local import SentenceTransformerEmbedder, model_dir
from embeddings.onnx import OnnxEmbedder, ensure_onnx_model, length_groups
from tests.embedding_fixtures import onnx_dir  # noqa: F401 - a fixture, used by name

LONG = " ".join(f"Order {i} was delayed at the depot, sorry for the wait." for i in range(40))
TEXTS = [
    "",
    "a",
    "ok",
    "?",
    "STOP",
    "Yes!!!",
    "🙂👍",
    "Thanks so much 🙏 see you at 5",
    "Can we move my appointment to 3pm tomorrow?",
    "CAN WE MOVE MY APPOINTMENT TO 3PM TOMORROW?",
    "Your code is 483920. Do not share it.",
    "Ich komme zehn Minuten später, tut mir leid",
    "¿Podemos cambiar la cita al jueves?",
    "明日の予約を変更できますか",
    "call me back at +1 (415) 555-0100 or https://example.com/r?id=42",
    "  lots   of   spaces\nand\tnew lines  ",
    "The delivery did not arrive and nobody answered when I called twice today.",
    LONG[:600],
    LONG,
    "word " * 400,
]


@pytest.fixture(scope="module")
def onnx(onnx_dir: Path) -> OnnxEmbedder:  # noqa: F811
    return OnnxEmbedder(onnx_dir)


@pytest.fixture(scope="module")
def reference() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.mark.slow
def test_onnx_matches_sentence_transformers_on_every_text(
    onnx: OnnxEmbedder, reference: SentenceTransformerEmbedder
) -> None:
    got, want = onnx.embed(TEXTS), reference.embed(TEXTS)
    cosines = (got * want).sum(axis=1)
    assert cosines.min() >= 0.9999, dict(zip(TEXTS, cosines.round(6), strict=True))


def test_long_texts_are_truncated_at_max_seq_length(onnx: OnnxEmbedder) -> None:
    assert onnx.max_seq_length == 256
    assert len(onnx.tokenizer.encode(LONG).ids) == 256
    np.testing.assert_allclose(onnx.embed_one(LONG), onnx.embed_one(LONG + " extra tail"), atol=1e-6)


def test_padding_is_dynamic(onnx: OnnxEmbedder) -> None:
    lengths = {len(e.ids) for e in onnx.tokenizer.encode_batch(["hi", "hello there friend"])}
    assert lengths == {5}  # padded to the longest text, not to the shipped fixed 128


def test_short_text_embeds_the_same_alone_and_beside_a_long_one(onnx: OnnxEmbedder) -> None:
    alone = onnx.embed(["ok thanks"])[0]
    beside = onnx.embed(["ok thanks", LONG])[0]
    np.testing.assert_allclose(alone, beside, atol=1e-5)


def test_mixed_lengths_run_in_groups_without_changing_vectors(onnx: OnnxEmbedder) -> None:
    texts = ["ok", LONG, "see you at five then", "word " * 90, "?", TEXTS[16]]
    lengths = np.array([sum(e.attention_mask) for e in onnx.tokenizer.encode_batch(texts)])
    groups = length_groups(lengths)
    assert len(groups) > 1 and sorted(np.concatenate(groups).tolist()) == list(range(len(texts)))
    alone = np.stack([onnx.embed_one(text) for text in texts])
    np.testing.assert_allclose(onnx.embed(texts), alone, atol=1e-5)


def test_rows_are_unit_float32(onnx: OnnxEmbedder) -> None:
    rows = onnx.embed(TEXTS)
    assert rows.dtype == np.float32 and rows.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert onnx.embed([]).shape == (0, 384)


class RecordingSession:
    """Stands in for an onnxruntime session: records who ran, optionally holds a run open."""

    def __init__(self, name: str, inner: object, log: list[str], hold: threading.Event | None = None):
        self.name, self.inner, self.log, self.hold = name, inner, log, hold
        self.started = threading.Event()

    def run(self, outputs: object, feeds: dict) -> list:
        self.log.append(self.name)
        self.started.set()
        if self.hold is not None:
            assert self.hold.wait(10)
        return self.inner.run(outputs, feeds)  # type: ignore[attr-defined]


def test_a_call_alone_gets_every_core_and_overlapping_calls_one_each(
    onnx_dir: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setattr(onnx_module.os, "cpu_count", lambda: 2)
    embedder = OnnxEmbedder(onnx_dir)
    threads = {
        name: int(session.get_session_options().intra_op_num_threads)
        for name, session in (("wide", embedder.session), ("narrow", embedder._narrow))
    }
    assert threads["narrow"] == 1 and threads["wide"] != 1  # 0: one thread per core
    used: list[str] = []
    release = threading.Event()
    wide = RecordingSession("wide", embedder.session, used, hold=release)
    embedder.session = wide  # type: ignore[assignment]
    embedder._narrow = RecordingSession("narrow", embedder._narrow, used)  # type: ignore[assignment]
    first = threading.Thread(target=embedder.embed, args=(["the first call, held open"],))
    first.start()
    assert wide.started.wait(10)
    overlapping = embedder.embed(["a second call while the first runs"])
    release.set()
    first.join()
    alone = embedder.embed(["a third call, alone again"])
    assert used == ["wide", "narrow", "wide"]
    # The session a call runs on does not change its vector: the narrow one's, taken alone.
    again_alone = embedder.embed(["a second call while the first runs"])
    assert used[-1] == "wide"
    np.testing.assert_allclose(overlapping, again_alone, atol=1e-5)
    assert alone.shape == (1, embedder.dim)


def test_a_batch_worker_gets_one_core_even_when_no_other_model_runs(
    onnx_dir: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    # A batch worker runs only while other calls are in flight: here the lone caller is
    # still busy before its model run, so the worker's call is the only one in the model.
    monkeypatch.setattr(onnx_module.os, "cpu_count", lambda: 2)
    embedder = OnnxEmbedder(onnx_dir)
    used: list[str] = []
    embedder.session = RecordingSession("wide", embedder.session, used)  # type: ignore[assignment]
    embedder._narrow = RecordingSession("narrow", embedder._narrow, used)  # type: ignore[assignment]
    direct_entered, release_direct = threading.Event(), threading.Event()

    def run_batch(texts: list[str]) -> np.ndarray:
        if texts == ["the direct call"]:
            direct_entered.set()
            assert release_direct.wait(10)
        return embedder.embed(texts)

    batcher: MicroBatcher[str, np.ndarray] = MicroBatcher(run_batch, workers=1)
    try:
        direct = threading.Thread(target=batcher.submit, args=(["the direct call"],))
        direct.start()
        assert direct_entered.wait(10)
        batcher.submit(["a call the worker runs"])
        release_direct.set()
        direct.join()
    finally:
        batcher.close()
    assert used == ["narrow", "wide"]


def test_tokenizing_starts_no_thread_pool(onnx_dir: Path) -> None:  # noqa: F811
    # The tokenizers' own pool would spin up workers that crowd the model's cores.
    script = (
        "import os, sys\n"
        "from embeddings.onnx import OnnxEmbedder\n"
        "embedder = OnnxEmbedder(sys.argv[1])\n"
        "before = len(os.listdir('/proc/self/task'))\n"
        "embedder.embed(['text number %d for the batch' % i for i in range(64)])\n"
        "print(before, len(os.listdir('/proc/self/task')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZERS_PARALLELISM"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(onnx_dir)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.split()
    assert after == before


def test_a_fixed_thread_count_keeps_one_session(onnx_dir: Path) -> None:  # noqa: F811
    embedder = OnnxEmbedder(onnx_dir, threads=1)
    assert embedder._narrow is embedder.session


def test_ensure_onnx_model_reuses_a_finished_export(onnx_dir: Path) -> None:  # noqa: F811
    stamp = (onnx_dir / "model.onnx").stat().st_mtime_ns
    assert ensure_onnx_model(onnx_dir) == onnx_dir
    assert (onnx_dir / "model.onnx").stat().st_mtime_ns == stamp


def fake_writer(calls: list[Path], fail: bool = False) -> Callable[[Path, Path], None]:
    """Stands in for the torch export: slow enough for a second exporter to collide."""

    def write(model_path: Path, target: Path) -> None:
        calls.append(target)
        threading.Event().wait(0.2)
        if fail:
            raise RuntimeError("export failed")
        target.write_bytes(b"not really onnx")

    return write


def test_concurrent_exports_run_once_and_publish_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(onnx_module, "_write_onnx", fake_writer(calls))
    out = tmp_path / "export"
    threads = [threading.Thread(target=ensure_onnx_model, args=(out,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["model.onnx", *onnx_module.COPIED_FILES]
    )
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []


def test_failed_export_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_module, "_write_onnx", fake_writer([], fail=True))
    with pytest.raises(RuntimeError, match="export failed"):
        ensure_onnx_model(tmp_path / "export")
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_reexport_replaces_previous_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(onnx_module, "_write_onnx", fake_writer(calls))
    out = tmp_path / "export"
    onnx_module.export_onnx(out, model_dir())
    (out / "stale").write_text("from the old export")
    onnx_module.export_onnx(out)
    assert len(calls) == 2 and not (out / "stale").exists()


def test_factory_builds_micro_batched_cached_onnx(tmp_path: Path, onnx_dir: Path) -> None:  # noqa: F811
    embedder = build_embedder("onnx", cache_path=tmp_path / "cache.sqlite", onnx_dir=onnx_dir)
    try:
        assert isinstance(embedder, MicroBatchingEmbedder)
        assert (embedder.model_id, embedder.dim) == ("all-MiniLM-L6-v2", 384)
        first = embedder.embed(["hello", "hello", "bye"])
        np.testing.assert_allclose(first[0], first[1])
        np.testing.assert_allclose(embedder.embed_one("bye"), first[2])
    finally:
        embedder.close()


def test_factory_rejects_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown embedder kind"):
        build_embedder("word2vec", cache_path=None, onnx_dir=tmp_path)
