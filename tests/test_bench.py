"""`pls bench`: the embedder and the match are timed side by side, on a real index."""

from __future__ import annotations

import threading
from pathlib import Path

from app.config import Settings
from app.evaluation.bench import match_stages, model_in_parallel, run_bench, side_by_side, timed_rounds
from embeddings.batching import in_batch_worker, workers_per_core
from tests.embedding_fixtures import onnx_dir  # noqa: F401 - a fixture, used by name


def test_embeddings_and_matches_are_timed_alternately() -> None:
    calls: list[str] = []
    embed_s, match_s, results = side_by_side(
        lambda text: calls.append(f"embed {text}"),
        lambda text: calls.append(f"match {text}") or text.upper(),
        ["a", "b", "c"],
        ["x", "y", "z"],
    )
    assert calls == ["embed a", "match x", "embed b", "match y", "embed c", "match z"]
    assert len(embed_s) == len(match_s) == 3
    assert results == ["X", "Y", "Z"]
    assert all(s >= 0 for s in embed_s + match_s)


def test_lone_and_concurrent_matches_are_timed_in_alternating_rounds() -> None:
    phases: list[str] = []
    lock = threading.Lock()

    def match(text: str) -> None:
        phase = "concurrent" if text.startswith("c") else "lone"
        with lock:
            if not phases or phases[-1] != phase:
                phases.append(phase)

    timings = timed_rounds(
        lambda text: None,
        match,
        [f"e{i}" for i in range(8)],
        [f"m{i}" for i in range(8)],
        [f"c{i}" for i in range(40)],
        rounds=4,
        concurrency=4,
    )
    assert phases == ["lone", "concurrent"] * 4
    assert len(timings.embed_s) == len(timings.match_s) == 8
    assert timings.concurrent_matches == 40 and timings.concurrent_s > 0
    assert timings.parallel_texts == 0  # the model alone is timed only when asked


def test_each_round_ends_with_the_model_alone_on_the_concurrent_texts() -> None:
    phases: list[str] = []
    lock = threading.Lock()

    def note(phase: str) -> None:
        with lock:
            if not phases or phases[-1] != phase:
                phases.append(phase)

    timings = timed_rounds(
        lambda text: note("lone"),
        lambda text: note("lone" if text.startswith("m") else "concurrent"),
        [f"e{i}" for i in range(4)],
        [f"m{i}" for i in range(4)],
        [f"c{i}" for i in range(20)],
        rounds=2,
        concurrency=4,
        embed_batch=lambda texts: note("model"),
    )
    assert phases == ["lone", "concurrent", "model"] * 2
    assert timings.parallel_texts == 20 and timings.parallel_s > 0


def test_the_model_alone_runs_every_text_in_batches_on_batch_workers() -> None:
    seen: list[tuple[int, bool, str]] = []
    lock = threading.Lock()

    def embed_batch(texts: list[str]) -> None:
        with lock:
            seen.append((len(texts), in_batch_worker(), threading.current_thread().name))

    texts = [f"t{i}" for i in range(37)]
    assert model_in_parallel(embed_batch, texts, batch=8) > 0
    assert sorted(size for size, _, _ in seen) == [5, 8, 8, 8, 8]
    # Run as the batch workers run it (narrow sessions), one thread per core.
    assert all(role for _, role, _ in seen)
    assert len({name for _, _, name in seen}) <= workers_per_core()
    assert not in_batch_worker()  # the caller's own role is left as it was


def test_bench_reports_every_number_from_a_small_real_index(settings: Settings, onnx_dir: Path) -> None:  # noqa: F811
    settings.onnx_dir.parent.mkdir(parents=True)
    settings.onnx_dir.symlink_to(onnx_dir)  # the shared export, not a fresh one per test
    report = run_bench(400, settings, queries=6, base_texts=80)
    assert report["n_examples"] == 400
    assert report["match_p50_ms"] > 0 and report["embed_p50_ms"] > 0 and report["embed_tight_loop_p50_ms"] > 0
    assert report["match_to_embed_p50"] == round(report["match_p50_ms"] / report["embed_p50_ms"], 3)
    assert report["matches_per_s_1"] > 0 and report["matches_per_s_16"] > 0
    # What the model alone allows: one text at a time, and in batches on every core.
    assert report["model_texts_per_s_1"] > 0 and report["model_texts_per_s_parallel"] > 0
    ceiling = report["model_texts_per_s_parallel"] / report["model_texts_per_s_1"]
    assert abs(report["model_gain_ceiling"] - ceiling) < 0.02
    # The concurrent phases run long enough to reach a steady state: 4x the lone matches.
    assert (report["matches_timed_1"], report["matches_timed_16"]) == (6, 24)
    # The lone matches use the texts the bare model was timed on, and none came from the cache.
    assert report["match_model_runs"] == 6 + 24
    # Where a lone match's time goes.
    stages = report["match_stages_p50_ms"]
    assert set(stages) == {"embed", "search", "score", "rest"}
    assert all(0 < stages[name] < report["match_p99_ms"] for name in ("embed", "search", "score"))


def test_match_stages_leave_the_rest_of_each_match_under_rest() -> None:
    class Result:
        def __init__(self, **stages: float) -> None:
            self.stages_ms = stages

    stages = match_stages(
        [
            Result(embed=4.0, search=1.0, score=0.5, batch=1),
            Result(),
            Result(embed=5.0, search=2.0, score=1.0),
        ],
        [0.006, 0.001, 0.009],
    )
    # The second match failed safe before it was searched: it has no stages to report.
    assert stages["embed"] == [0.004, 0.005] and stages["search"] == [0.001, 0.002]
    assert [round(s, 6) for s in stages["rest"]] == [0.0005, 0.001]
