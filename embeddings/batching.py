"""Merge concurrent embed calls from many threads into one batched call of the inner model."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from embeddings.base import Embedder


@dataclass
class _Request:
    texts: list[str]
    future: Future[np.ndarray] = field(default_factory=Future)


class MicroBatchingEmbedder(Embedder):
    """An embedder for many threads: one worker thread batches their calls to `inner`.

    A call arriving while the worker is idle is dispatched at once. Only when callers are
    evidently concurrent (the last batch held several requests) does the worker wait, up
    to `max_wait_ms`, for more requests to join a batch of at most `max_batch` texts.
    A request is never split. Owns `inner`: `close()` stops the worker and closes it.
    """

    def __init__(self, inner: Embedder, max_batch: int = 32, max_wait_ms: float = 2.0, workers: int = 1) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.batch_size = max_batch
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.batches = 0  # inner calls made, for benchmarks and tests
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._concurrent = False
        self._in_flight = 0  # embed calls not yet returned, direct or queued
        # Several workers let batches run side by side on several cores (the inner model must
        # be safe to call from several threads, as an onnxruntime session is).
        self._workers = [
            threading.Thread(target=self._run, name=f"embed-batcher-{i}", daemon=True) for i in range(max(1, workers))
        ]
        for worker in self._workers:
            worker.start()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; a lone caller runs in its own thread, concurrent ones are batched."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._close_lock:
            if self._closed:
                raise RuntimeError("MicroBatchingEmbedder is closed")
            # Nobody else is embedding: a hand-off to a worker would only add latency.
            direct = self._in_flight == 0
            self._in_flight += 1
            if not direct:
                request = _Request(list(texts))
                self._queue.put(request)
        try:
            if direct:
                return self.inner.embed(texts)
            return request.future.result()
        finally:
            with self._close_lock:
                self._in_flight -= 1

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Same as `embed`: batching happens across callers."""
        return self.embed(texts)

    def close(self) -> None:
        """Finish queued requests, stop the worker and close the inner embedder."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            # Enqueued under the lock, so every accepted request is ahead of it.
            for _ in self._workers:
                self._queue.put(None)
        for worker in self._workers:
            worker.join()
        self.inner.close()

    def _run(self) -> None:
        carry: _Request | None = None
        while True:
            first = carry or self._queue.get()
            if first is None:
                return
            batch, carry, stop = self._collect(first)
            self._dispatch(batch)
            if stop:
                return

    def _collect(self, first: _Request) -> tuple[list[_Request], _Request | None, bool]:
        """Requests to send with `first`, one that did not fit, and whether close was seen."""
        batch = [first]
        size = len(first.texts)
        deadline = time.monotonic() + self.max_wait
        carry: _Request | None = None
        stop = False
        while size < self.max_batch:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                # A lone caller must not pay max_wait: wait only if others have been around.
                remaining = deadline - time.monotonic()
                if not (self._concurrent or len(batch) > 1) or remaining <= 0:
                    break
                try:
                    request = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if request is None:
                stop = True
                break
            if size + len(request.texts) > self.max_batch:
                carry = request
                break
            batch.append(request)
            size += len(request.texts)
        self._concurrent = len(batch) > 1
        return batch, carry, stop

    def _dispatch(self, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        try:
            vectors = self.inner.embed(texts)
            self.batches += 1
        except Exception as error:
            if len(batch) == 1:
                batch[0].future.set_exception(error)
                return
            # Someone's input broke the shared call: retry each request alone so the
            # error reaches only the caller who caused it.
            for request in batch:
                self._dispatch([request])
            return
        start = 0
        for request in batch:
            end = start + len(request.texts)
            request.future.set_result(vectors[start:end])
            start = end
