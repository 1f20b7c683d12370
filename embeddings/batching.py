"""Merge concurrent calls from many threads into batched calls: embeddings, matches."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from embeddings.base import Embedder

Item = TypeVar("Item")
Out = TypeVar("Out")  # one row per item, sliceable: a list or an array


def workers_per_core(limit: int = 4) -> int:
    """One batch worker per core (at most `limit`), so batches run side by side on all of them."""
    return min(limit, os.cpu_count() or 1)


# How often a waiting worker looks again whether anyone is left to join its batch.
_POLL_S = 0.0002

_thread_role = threading.local()


def in_batch_worker() -> bool:
    """Whether the calling thread is a batch worker.

    A worker runs only while other calls are in flight (a lone caller runs in its own
    thread), so whatever it runs shares the cores with them, even at an instant when no
    other model run happens to be going on.
    """
    return getattr(_thread_role, "batch_worker", False)


@contextmanager
def batch_worker_role() -> Iterator[None]:
    """Run the calling thread as a batch worker would (to time the model as workers use it)."""
    before = in_batch_worker()
    _thread_role.batch_worker = True
    try:
        yield
    finally:
        _thread_role.batch_worker = before


@dataclass
class _Request(Generic[Item, Out]):
    items: list[Item]
    future: Future[Out] = field(default_factory=Future)


class MicroBatcher(Generic[Item, Out]):
    """Runs `run_batch` for many threads: worker threads batch their concurrent calls.

    `run_batch` takes a list of items and returns one output row per item (a list or an
    array). A call arriving while nobody else is in flight runs at once in the caller's own
    thread: a hand-off would only add latency. A worker waits, up to `max_wait_ms`, for more
    requests to join a batch of at most `max_batch` items only while some caller in flight is
    not yet served by anyone: one that has not queued its request yet, or one that has its
    answer and is about to ask again. Once every caller in flight is in a batch, waiting
    longer cannot grow this one, so it runs. A request is never split.

    With several workers, a batch takes at most its worker's fair share of the callers in
    flight and leaves the rest queued for the others. A worker that took more would run one
    long batch while the other ran short ones: the split sticks once it happens (those callers
    come back together), and short batches cost the model up to 1.7x more per text.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Item]], Out],
        *,
        max_batch: int = 32,
        max_wait_ms: float = 2.0,
        workers: int = 1,
        name: str = "batcher",
    ) -> None:
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.batches = 0  # batches run by the workers, for benchmarks and tests
        # Not a SimpleQueue: with several workers taking from it, CPython 3.11's
        # SimpleQueue.get(timeout=...) can block for good once its deadline has passed (a put
        # wakes it, another worker takes the item, and the retry waits with a negative,
        # i.e. endless, timeout), stranding the last batch of a burst until the next request.
        self._queue: queue.Queue[_Request[Item, Out] | None] = queue.Queue()
        self._closed = False
        self._state_lock = threading.Lock()  # guards _closed and the two call counts
        self._in_flight = 0  # calls not yet returned, direct or queued
        self._claimed = 0  # calls running directly or taken into a batch, and not yet answered
        # Several workers let batches run side by side on several cores (`run_batch` must be
        # safe to call from several threads, as an onnxruntime session is).
        self._workers = [
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(max(1, workers))
        ]
        for worker in self._workers:
            worker.start()

    def submit(self, items: Sequence[Item]) -> Out:
        """The outputs for `items`; a lone caller runs in its own thread, concurrent ones are batched."""
        with self._state_lock:
            if self._closed:
                raise RuntimeError(f"{self.__class__.__name__} is closed")
            direct = self._in_flight == 0
            self._in_flight += 1
            if direct:
                self._claimed += 1
            else:
                request: _Request[Item, Out] = _Request(list(items))
                self._queue.put(request)
        try:
            if direct:
                try:
                    return self.run_batch(list(items))
                finally:
                    self._settle(1)
            return request.future.result()
        finally:
            with self._state_lock:
                self._in_flight -= 1

    def _claim(self, requests: int) -> None:
        with self._state_lock:
            self._claimed += requests

    def _settle(self, requests: int) -> None:
        with self._state_lock:
            self._claimed -= requests

    def _fair_share(self) -> int:
        """Requests one worker's batch may take: the callers in flight split evenly between the
        workers (read without the lock: a stale count only moves one batch's cut-off)."""
        return max(1, -(-self._in_flight // len(self._workers)))

    def _someone_may_join(self) -> bool:
        """Whether a caller in flight is neither running nor in a batch (read without the lock:
        a stale answer only ends or extends one wait)."""
        return self._in_flight > self._claimed

    def close(self) -> None:
        """Finish queued requests and stop the workers."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            # Enqueued under the lock, so every accepted request is ahead of it.
            for _ in self._workers:
                self._queue.put(None)
        for worker in self._workers:
            worker.join()

    @property
    def workers(self) -> list[threading.Thread]:
        """The worker threads (alive until `close`)."""
        return self._workers

    def _run(self) -> None:
        with batch_worker_role():
            self._serve()

    def _serve(self) -> None:
        carry: _Request[Item, Out] | None = None
        while True:
            first = carry
            if first is None:
                first = self._queue.get()
                if first is None:
                    return
                self._claim(1)
            batch, carry, stop = self._collect(first)
            self._dispatch(batch)
            if stop:
                return

    def _collect(
        self, first: _Request[Item, Out]
    ) -> tuple[list[_Request[Item, Out]], _Request[Item, Out] | None, bool]:
        """Requests to send with `first`, one that did not fit, and whether close was seen.

        Every request taken off the queue is claimed at once, the one that did not fit too.
        """
        batch = [first]
        size = len(first.items)
        deadline = time.monotonic() + self.max_wait
        carry: _Request[Item, Out] | None = None
        stop = False
        while size < self.max_batch and len(batch) < self._fair_share():
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                # Nobody left to wait for (a lone caller, or every caller already in a batch):
                # run now rather than sit out max_wait.
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._someone_may_join():
                    break
                try:
                    request = self._queue.get(timeout=min(remaining, _POLL_S))
                except queue.Empty:
                    continue
            if request is None:
                stop = True
                break
            self._claim(1)
            if size + len(request.items) > self.max_batch:
                carry = request
                break
            batch.append(request)
            size += len(request.items)
        return batch, carry, stop

    def _dispatch(self, batch: list[_Request[Item, Out]]) -> None:
        try:
            self._answer(batch)
        finally:
            self._settle(len(batch))

    def _answer(self, batch: list[_Request[Item, Out]]) -> None:
        items = [item for request in batch for item in request.items]
        try:
            outputs = self.run_batch(items)
            self.batches += 1
        except Exception as error:
            if len(batch) == 1:
                batch[0].future.set_exception(error)
                return
            # Someone's input broke the shared call: retry each request alone so the
            # error reaches only the caller who caused it.
            for request in batch:
                self._answer([request])
            return
        start = 0
        for request in batch:
            end = start + len(request.items)
            request.future.set_result(outputs[start:end])  # type: ignore[index]
            start = end


class MicroBatchingEmbedder(Embedder):
    """An embedder for many threads: worker threads batch their concurrent calls to `inner`.

    Owns `inner`: `close()` stops the workers and closes it.
    """

    def __init__(self, inner: Embedder, max_batch: int = 32, max_wait_ms: float = 2.0, workers: int = 1) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.batch_size = max_batch
        self.max_batch = max_batch
        self._batcher: MicroBatcher[str, np.ndarray] = MicroBatcher(
            inner.embed, max_batch=max_batch, max_wait_ms=max_wait_ms, workers=workers, name="embed-batcher"
        )

    @property
    def batches(self) -> int:
        """Inner calls made by the workers, for benchmarks and tests."""
        return self._batcher.batches

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; a lone caller runs in its own thread, concurrent ones are batched."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._batcher.submit(texts)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Same as `embed`: batching happens across callers."""
        return self.embed(texts)

    def close(self) -> None:
        """Finish queued requests, stop the workers and close the inner embedder."""
        self._batcher.close()
        self.inner.close()


def unbatched(embedder: Embedder) -> Embedder:
    """The embedder behind a micro-batcher, for a caller that batches its own calls.

    Two batchers in a row would merge the first one's concurrent batches into one model call,
    so its workers could no longer run one batch's model while another's results are used.
    """
    return embedder.inner if isinstance(embedder, MicroBatchingEmbedder) else embedder
