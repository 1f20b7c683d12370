"""The micro-batcher: many threads in, few batched calls to the model, right rows out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import pytest

from embeddings.batching import MicroBatcher, MicroBatchingEmbedder, unbatched
from embeddings.onnx import OnnxEmbedder
from tests.embedding_fixtures import (
    FakeEmbedder,
    expected_rows,
    onnx_dir,  # noqa: F401 - a fixture, used by name
)


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Run work(0..count-1) on `count` threads released together; re-raise the first error."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def target(n: int) -> None:
        barrier.wait()
        try:
            work(n)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def test_sixteen_threads_each_get_their_own_rows() -> None:
    inner = FakeEmbedder(delay=0.005)
    batcher = MicroBatchingEmbedder(inner, max_batch=32)
    got: dict[str, np.ndarray] = {}

    def work(n: int) -> None:
        for i in range(10):
            got[f"t{n}-{i}"] = batcher.embed_one(f"t{n}-{i}")
        texts = [f"multi {n} {i}" for i in range(3)]
        for text, row in zip(texts, batcher.embed(texts), strict=True):
            got[text] = row

    run_threads(16, work)
    batcher.close()
    texts = sorted(got)
    np.testing.assert_allclose(np.stack([got[t] for t in texts]), expected_rows(texts), atol=1e-6)
    assert len(inner.embedded) == 16 * 13
    assert max(len(call) for call in inner.calls) > 1  # concurrent calls were merged


def test_batches_never_exceed_max_batch_unless_one_request_does() -> None:
    inner = FakeEmbedder(delay=0.002)
    inner.batch_size = 100
    batcher = MicroBatchingEmbedder(inner, max_batch=4)
    big = [f"big {i}" for i in range(10)]

    def work(n: int) -> None:
        if n:
            batcher.embed_one(f"small {n}")
        else:
            batcher.embed(big)

    run_threads(8, work)
    batcher.close()
    assert all(len(call) <= 4 for call in inner.calls if call != big)
    assert big in inner.calls  # a request is never split


def test_lone_caller_is_dispatched_without_waiting() -> None:
    # With a minute of max_wait, a batcher that waited for company would stall here.
    batcher = MicroBatchingEmbedder(FakeEmbedder(), max_wait_ms=60_000)
    with ThreadPoolExecutor(1) as pool:
        rows = pool.submit(lambda: [batcher.embed_one(f"solo {i}") for i in range(5)])
        result = np.stack(rows.result(timeout=20))
    batcher.close()
    np.testing.assert_allclose(result, expected_rows([f"solo {i}" for i in range(5)]), atol=1e-6)


def test_a_batch_holding_every_caller_in_flight_runs_without_waiting_out_max_wait() -> None:
    # Four callers ask again as soon as they are answered. With a minute of max_wait, a
    # worker that waited for a fuller batch once callers had been concurrent would stall;
    # here every batch runs once all four are in it (or the rest are running elsewhere).
    inner = FakeEmbedder(delay=0.003)
    batcher = MicroBatchingEmbedder(inner, max_batch=32, max_wait_ms=60_000)
    texts = [[f"loop {n}-{i}" for i in range(8)] for n in range(4)]

    rows: dict[int, np.ndarray] = {}

    def ask_in_a_loop(n: int) -> None:
        rows[n] = np.stack([batcher.embed_one(text) for text in texts[n]])

    # Daemon threads, so a stalled batcher fails this test in seconds instead of hanging it.
    callers = [threading.Thread(target=ask_in_a_loop, args=(n,), daemon=True) for n in range(4)]
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 20
    for caller in callers:
        caller.join(timeout=max(0.0, deadline - time.monotonic()))
    assert sorted(rows) == [0, 1, 2, 3], "a batch waited for callers that were already in one"
    batcher.close()
    for n in range(4):
        np.testing.assert_allclose(rows[n], expected_rows(texts[n]), atol=1e-6)
    assert max(len(call) for call in inner.calls) > 1  # callers were still batched together


def test_the_last_batch_of_every_burst_is_answered_with_no_request_after_it() -> None:
    # Several workers wait on one queue, some of them with a timeout; a worker whose wait
    # outlived its deadline once blocked for good, holding the burst's last batch.
    def busy_batch(items: list[int]) -> list[int]:
        started = time.perf_counter()
        while time.perf_counter() - started < 0.0005:
            pass
        return items

    batcher: MicroBatcher[int, list[int]] = MicroBatcher(busy_batch, max_batch=32, workers=2)
    stranded_bursts: list[tuple[int, int]] = []
    pool = ThreadPoolExecutor(16)
    try:
        for burst in range(150):
            futures = [pool.submit(batcher.submit, [i]) for i in range(64)]
            done, stranded = wait(futures, timeout=10)
            if stranded:
                stranded_bursts.append((burst, len(stranded)))
                break
            assert sorted(f.result()[0] for f in done) == list(range(64))
    finally:
        batcher.close()  # its sentinels wake a stranded worker, so no thread outlives the test
        pool.shutdown(wait=True)
    assert stranded_bursts == [], "(burst, calls never answered)"


def test_workers_split_the_callers_in_flight_evenly() -> None:
    # Sixteen callers ask again as soon as they are answered. A worker that took every queued
    # caller would run one long batch while the other ran short ones, and the split would stick.
    sizes: list[int] = []

    def slow_batch(items: list[int]) -> list[int]:
        sizes.append(len(items))
        time.sleep(0.01)
        return items

    batcher: MicroBatcher[int, list[int]] = MicroBatcher(slow_batch, max_batch=32, workers=2)

    def ask_in_a_loop(n: int) -> None:
        for i in range(6):
            assert batcher.submit([n * 100 + i]) == [n * 100 + i]

    run_threads(16, ask_in_a_loop)
    batcher.close()
    assert sum(sizes) == 16 * 6
    assert max(sizes) <= 8, f"a batch took more than half of the 16 callers: {sizes}"
    assert max(sizes) > 1  # callers were still batched together


def test_errors_reach_only_the_caller_that_caused_them() -> None:
    inner = FakeEmbedder(delay=0.005, fail_on="boom")
    batcher = MicroBatchingEmbedder(inner)
    outcomes: dict[int, object] = {}

    def work(n: int) -> None:
        text = f"boom {n}" if n % 4 == 0 else f"fine {n}"
        try:
            outcomes[n] = batcher.embed_one(text)
        except ValueError as error:
            outcomes[n] = error

    run_threads(16, work)
    batcher.close()
    for n, outcome in outcomes.items():
        if n % 4 == 0:
            assert isinstance(outcome, ValueError) and "boom" in str(outcome)
        else:
            assert isinstance(outcome, np.ndarray)
            np.testing.assert_allclose(outcome, expected_rows([f"fine {n}"])[0], atol=1e-6)


def test_close_stops_worker_closes_inner_and_rejects_new_calls() -> None:
    inner = FakeEmbedder()
    batcher = MicroBatchingEmbedder(inner)
    batcher.embed_one("before close")
    batcher.close()
    batcher.close()  # idempotent
    assert not any(worker.is_alive() for worker in batcher._batcher.workers)
    assert inner.closed
    with pytest.raises(RuntimeError, match="closed"):
        batcher.embed_one("after close")


def test_close_while_busy_leaves_no_caller_hanging() -> None:
    batcher = MicroBatchingEmbedder(FakeEmbedder(delay=0.01))
    served = threading.Event()
    refused = threading.Event()

    def work(n: int) -> None:
        for i in range(1000):
            try:
                batcher.embed_one(f"busy {n} {i}")
                served.set()
            except RuntimeError:
                refused.set()
                return

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    assert served.wait(timeout=20)
    batcher.close()
    for thread in threads:
        thread.join(timeout=20)
        assert not thread.is_alive()
    assert refused.is_set()


def test_empty_input_skips_the_worker() -> None:
    inner = FakeEmbedder()
    batcher = MicroBatchingEmbedder(inner)
    assert batcher.embed([]).shape == (0, 8)
    batcher.close()
    assert inner.calls == []


@pytest.mark.slow
def test_onnx_rows_from_sixteen_threads_match_direct_embedding(onnx_dir: Path) -> None:  # noqa: F811
    model = OnnxEmbedder(onnx_dir)
    texts = [f"Can you confirm booking #{i} for Tuesday?" if i % 3 else "ok" for i in range(48)]
    direct = model.embed(texts)
    batcher = MicroBatchingEmbedder(model)
    rows: dict[int, np.ndarray] = {}

    def work(n: int) -> None:
        for i in range(n, 48, 16):
            rows[i] = batcher.embed_one(texts[i])

    run_threads(16, work)
    batcher.close()
    np.testing.assert_allclose(np.stack([rows[i] for i in range(48)]), direct, atol=1e-5)


def test_several_workers_embed_side_by_side() -> None:
    class Slow(FakeEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.active = 0
            self.peak = 0
            self.guard = threading.Lock()

        def embed(self, texts):  # type: ignore[no-untyped-def]
            with self.guard:
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(0.05)
            with self.guard:
                self.active -= 1
            return super().embed(texts)

    inner = Slow()
    batcher = MicroBatchingEmbedder(inner, max_batch=2, workers=2)
    with ThreadPoolExecutor(8) as pool:
        rows = list(pool.map(batcher.embed_one, [f"text {i}" for i in range(8)]))
    batcher.close()
    assert inner.peak == 3  # the first caller embeds in its own thread, both workers beside it
    assert all(np.allclose(row, inner.embed([f"text {i}"])[0]) for i, row in enumerate(rows))


def test_a_lone_caller_embeds_in_its_own_thread() -> None:
    inner = FakeEmbedder()
    batcher = MicroBatchingEmbedder(inner, workers=2)
    for i in range(5):
        batcher.embed_one(f"text {i}")
    assert batcher.batches == 0  # no hand-off to a worker was needed
    batcher.close()


def test_unbatched_unwraps_only_a_micro_batcher() -> None:
    inner = FakeEmbedder()
    batching = MicroBatchingEmbedder(inner)
    assert unbatched(batching) is inner
    assert unbatched(inner) is inner
    batching.close()
