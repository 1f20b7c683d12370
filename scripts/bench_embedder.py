"""Benchmark the embedders: latency, batch throughput, and 1 vs N threads via micro-batching.

Usage: python scripts/bench_embedder.py [--reference] [--threads N] [--onnx-dir DIR]
Prints numbers only; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from embeddings.base import Embedder
from embeddings.batching import MicroBatchingEmbedder
from embeddings.onnx import OnnxEmbedder, ensure_onnx_model

T = TypeVar("T")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
REPLIES = ("yes", "ok thanks", "running late", "see you soon", "call me", "sounds good")


def sms_texts(n: int, seed: int = 0) -> list[str]:
    """Distinct SMS-sized texts (~19 tokens), so no layer can answer from a cache."""
    return [
        f"Hi, can you confirm booking #{seed}-{i} for {DAYS[i % 6]} at {1 + i % 11}pm? Thanks"
        for i in range(n)
    ]


def short_texts(n: int, seed: int = 0) -> list[str]:
    """Distinct one-line replies (~6 tokens)."""
    return [f"{REPLIES[i % 6]} {seed}-{i}" for i in range(n)]


def latency_ms(embedder: Embedder, texts: list[str]) -> tuple[float, float]:
    """p50 and p99 of one embed_one call, in milliseconds."""
    times = []
    for text in texts:
        start = time.perf_counter()
        embedder.embed_one(text)
        times.append(time.perf_counter() - start)
    p50, p99 = np.percentile(times, [50, 99]) * 1000
    return float(p50), float(p99)


def batch_throughput(embedder: Embedder, texts: list[str]) -> float:
    """Texts per second through `embed` on one list (split by the embedder's batch_size)."""
    start = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - start)


def threaded_throughput(embedder: Embedder, texts: list[str], threads: int) -> float:
    """Texts per second with `threads` callers each calling embed_one on its share of texts."""
    shares = [texts[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def work(share: list[str]) -> None:
        barrier.wait()
        for text in share:
            embedder.embed_one(text)

    workers = [threading.Thread(target=work, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return len(texts) / (time.perf_counter() - start)


def compare_threads(
    batcher: MicroBatchingEmbedder,
    name: str,
    make: Callable[[int, int], list[str]],
    calls: int,
    concurrency: int,
    rounds: int,
) -> None:
    """Print 1-thread vs `concurrency`-thread embed_one throughput through the batcher."""
    solo, many = [], []
    # Alternate the two so background load on the machine hits both alike.
    for round_ in range(rounds):
        texts = make(calls, 100 + round_)
        solo.append(threaded_throughput(batcher, texts, 1))
        batches_before = batcher.batches
        many.append(threaded_throughput(batcher, texts, concurrency))
        mean_batch = calls / max(batcher.batches - batches_before, 1)
        print(
            f"  {name} round {round_ + 1}: 1 thread {solo[-1]:.0f}/s, {concurrency} threads "
            f"{many[-1]:.0f}/s (mean batch {mean_batch:.1f})"
        )
    one, n = statistics.median(solo), statistics.median(many)
    print(
        f"micro-batched embed_one, {name}: 1 thread {one:.0f} texts/s, {concurrency} threads "
        f"{n:.0f} texts/s, ratio {n / one:.2f}x"
    )


def timed(label: str, action: Callable[[], T]) -> T:
    """Run `action`, print how long it took, return its result."""
    start = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - start:.2f} s")
    return result


def main() -> None:
    """Run every measurement and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx-dir", type=Path, default=Path.home() / ".cache/pls-test/onnx-minilm")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--calls", type=int, default=400, help="texts per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--reference", action="store_true", help="also time sentence-transformers")
    args = parser.parse_args()
    # Other work on the machine moves every number here; print how busy it was.
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    onnx_dir = timed("onnx model ready (export if missing)", lambda: ensure_onnx_model(args.onnx_dir))
    start = time.perf_counter()
    onnx = OnnxEmbedder(onnx_dir, threads=args.threads)
    onnx.embed_one("warm up")
    print(f"onnx cold start (load + first embed): {(time.perf_counter() - start) * 1000:.0f} ms")
    latency_ms(onnx, sms_texts(30, seed=99))
    for name, make in (("short reply", short_texts), ("SMS sentence", sms_texts)):
        p50, p99 = latency_ms(onnx, make(300, 0))
        print(f"onnx single-text latency, {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    for size in (8, 32):
        onnx.batch_size = size
        rate = batch_throughput(onnx, sms_texts(512, seed=1))
        print(f"onnx batched throughput, SMS sentences (batch {size}): {rate:.0f} texts/s")
    onnx.batch_size = 32

    batcher = MicroBatchingEmbedder(onnx, max_wait_ms=args.max_wait_ms)
    for name, make in (("short replies", short_texts), ("SMS sentences", sms_texts)):
        compare_threads(batcher, name, make, args.calls, args.concurrency, args.rounds)
    batcher.close()

    if args.reference:
        from embeddings.local import SentenceTransformerEmbedder

        start = time.perf_counter()
        reference = SentenceTransformerEmbedder()
        reference.embed_one("warm up")
        print(
            "sentence-transformers cold start (import + load + first embed): "
            f"{time.perf_counter() - start:.1f} s"
        )
        latency_ms(reference, sms_texts(30, seed=99))
        p50, p99 = latency_ms(reference, sms_texts(200))
        print(f"sentence-transformers single-text latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        rate = batch_throughput(reference, sms_texts(512, seed=1))
        print(f"sentence-transformers batched throughput (batch 32): {rate:.0f} texts/s")


if __name__ == "__main__":
    main()
