"""Benchmark the embedded (edge) index: writes, exact and HNSW search, optimize, recall, reopen.

    .venv/bin/python scripts/bench_index.py --n 100000 --tenants 1 --ef 32,64,128 [--json]

Vectors are clustered like sentence embeddings (a few thousand topic centres sharing a common
direction, plus noise), queries are fresh noisy copies of indexed examples, and every query is
filtered by tenant and searchable status exactly as the matcher does. Recall@k is measured
against brute-force numpy over the same filtered set.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from indexer import EdgeStore, EdgeTuning, IndexPoint, SubprocessOptimizer
from indexer.edge_config import search_params
from indexer.schema import SEARCHABLE_STATUSES

STATUSES = np.array(["active", "gold", "voided"])
STATUS_WEIGHTS = [0.85, 0.10, 0.05]


def clustered_vectors(n: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around min(3000, n/20) centres; also returns each vector's centre index."""
    n_centres = max(10, min(3000, n // 20))
    shared = rng.standard_normal(dim).astype(np.float32)
    shared /= np.linalg.norm(shared)
    centres = rng.standard_normal((n_centres, dim)).astype(np.float32) / np.sqrt(dim)
    # Embedding models put most texts in one cone: a common component gives cos ~0.3 between topics.
    centres += 0.6 * shared
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, n_centres, n)
    return _noisy(centres[labels], rng), labels


def _noisy(base: np.ndarray, rng: np.random.Generator, spread: float = 0.55) -> np.ndarray:
    noise = rng.standard_normal(base.shape).astype(np.float32) * (spread / np.sqrt(base.shape[1]))
    out = base + noise
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def timed_searches(store: EdgeStore, queries: np.ndarray, tenants: np.ndarray, k: int) -> tuple[list, list]:
    latencies, results = [], []
    for query, tenant in zip(queries, tenants, strict=True):
        start = time.perf_counter()
        hits = store.search(query, str(tenant), k)
        latencies.append(time.perf_counter() - start)
        results.append([h.example_id for h in hits])
    return latencies, results


def recall(results: list[list[int]], truth: list[list[int]]) -> float:
    found = sum(len(set(r) & set(t)) for r, t in zip(results, truth, strict=True))
    return found / max(1, sum(len(t) for t in truth))


def ground_truth(
    vectors: np.ndarray, tenant_of: np.ndarray, searchable: np.ndarray, queries: np.ndarray, q_tenants, k
) -> list[list[int]]:
    scores = queries @ vectors.T
    truth = []
    for row, tenant in zip(scores, q_tenants, strict=True):
        row = np.where((tenant_of == tenant) & searchable, row, -np.inf)
        truth.append(np.argsort(-row)[:k].tolist())
    return truth


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    tuning = EdgeTuning(
        m=args.m,
        ef_construct=args.ef_construct,
        full_scan_threshold_kb=args.full_scan_kb,
        payload_m=args.payload_m,
        quantize=args.quantize,
        acorn=args.acorn,
        oversampling=args.oversampling,
        search_threads=args.search_threads,
        segments=args.segments,
        max_indexing_threads=args.indexing_threads,
    )
    vectors, labels = clustered_vectors(args.n, args.dim, rng)
    weights = 1.0 / np.arange(1, args.tenants + 1)  # Zipf: a few big tenants, a long tail
    tenant_of = rng.choice([f"t{i}" for i in range(args.tenants)], args.n, p=weights / weights.sum())
    status_of = rng.choice(STATUSES, args.n, p=STATUS_WEIGHTS)
    searchable = np.isin(status_of, SEARCHABLE_STATUSES)
    picks = rng.choice(np.flatnonzero(searchable), args.queries, replace=False)
    queries, q_tenants = _noisy(vectors[picks], rng), tenant_of[picks]
    truth = ground_truth(vectors, tenant_of, searchable, queries, q_tenants, args.k)
    points = [
        IndexPoint(i, int(labels[i]), str(tenant_of[i]), str(status_of[i]), vectors[i]) for i in range(args.n)
    ]

    root = Path(args.path) if args.path else Path(tempfile.mkdtemp(prefix="bench_index_"))
    shutil.rmtree(root / "idx", ignore_errors=True)
    report: dict[str, Any] = {"n": args.n, "dim": args.dim, "tenants": args.tenants, "tuning": asdict(tuning)}
    report["largest_tenant"] = int(max(np.unique(tenant_of, return_counts=True)[1]))
    store = EdgeStore(root / "idx", args.dim, tuning=tuning, optimizer=SubprocessOptimizer(args.niceness))

    start = time.perf_counter()
    for i in range(0, args.n, 1000):
        store.upsert(points[i : i + 1000])
    report["upserts_per_s"] = args.n / (time.perf_counter() - start)

    latencies, results = timed_searches(store, queries, q_tenants, args.k)
    report["exact"] = {**percentiles(latencies), "recall": recall(results, truth)}

    # Optimize off-process while this thread keeps searching at a steady 10 queries/s.
    start = time.perf_counter()
    future = store.optimize_in_background()
    during: list[float] = []
    while not future.done():
        i = len(during) % args.queries
        during += timed_searches(store, queries[i : i + 1], q_tenants[i : i + 1], args.k)[0]
        time.sleep(0.1)
    future.result()
    report["optimize_s"] = time.perf_counter() - start
    report["search_during_optimize"] = {**percentiles(during), "max_ms": max(during) * 1000, "n": len(during)}
    report["stats"] = store.stats()

    report["hnsw"] = []
    for ef in [int(e) for e in args.ef.split(",")]:
        store.search_params = search_params(replace(tuning, hnsw_ef=ef))
        timed_searches(store, queries, q_tenants, args.k)  # warm caches
        latencies, results = timed_searches(store, queries, q_tenants, args.k)
        report["hnsw"].append({"hnsw_ef": ef, **percentiles(latencies), "recall": recall(results, truth)})
    store.search_params = search_params(tuning, exact=True)
    latencies, results = timed_searches(store, queries, q_tenants, args.k)
    report["exact_after_optimize"] = {**percentiles(latencies), "recall": recall(results, truth)}
    store.close()

    start = time.perf_counter()
    store = EdgeStore(root / "idx", args.dim, tuning=tuning)
    report["reopen_s"] = time.perf_counter() - start
    start = time.perf_counter()
    store.search(queries[0], str(q_tenants[0]), args.k)
    report["first_query_after_reopen_ms"] = (time.perf_counter() - start) * 1000
    store.close()
    if not args.path:
        shutil.rmtree(root, ignore_errors=True)
    return report


def print_report(r: dict[str, Any]) -> None:
    print(f"n={r['n']} dim={r['dim']} tenants={r['tenants']} (largest {r['largest_tenant']})")
    print(f"tuning: {r['tuning']}")
    print(f"upserts/s:            {r['upserts_per_s']:,.0f}")
    print(f"exact (unindexed):    p50 {r['exact']['p50_ms']:.2f} ms  p99 {r['exact']['p99_ms']:.2f} ms")
    d = r["search_during_optimize"]
    print(f"optimize:             {r['optimize_s']:.1f} s  stats {r['stats']}")
    print(
        f"  searches meanwhile: n={d['n']} p50 {d['p50_ms']:.2f} ms  p99 {d['p99_ms']:.2f} ms"
        f"  max {d['max_ms']:.0f} ms"
    )
    for h in r["hnsw"]:
        print(
            f"hnsw_ef={h['hnsw_ef']:<4}          p50 {h['p50_ms']:.2f} ms  p99 {h['p99_ms']:.2f} ms"
            f"  recall@10 {h['recall']:.4f}"
        )
    e = r["exact_after_optimize"]
    print(
        f"exact after optimize: p50 {e['p50_ms']:.2f} ms  p99 {e['p99_ms']:.2f} ms  recall {e['recall']:.4f}"
    )
    print(
        f"reopen:               {r['reopen_s']:.2f} s, first query {r['first_query_after_reopen_ms']:.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run the benchmark, print a table or JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--tenants", type=int, default=1, help="1 = one tenant owns every example")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--ef", default="32,64,128", help="hnsw_ef values to sweep after optimize")
    defaults = EdgeTuning()
    parser.add_argument("--m", type=int, default=defaults.m)
    parser.add_argument("--ef-construct", type=int, default=defaults.ef_construct)
    parser.add_argument("--full-scan-kb", type=int, default=defaults.full_scan_threshold_kb)
    parser.add_argument("--payload-m", type=int, default=defaults.payload_m)
    parser.add_argument("--quantize", action="store_true", default=defaults.quantize)
    parser.add_argument("--acorn", action="store_true", default=defaults.acorn)
    parser.add_argument("--oversampling", type=float, default=defaults.oversampling)
    parser.add_argument("--search-threads", type=int, default=defaults.search_threads)
    parser.add_argument("--segments", type=int, default=defaults.segments)
    parser.add_argument("--indexing-threads", type=int, default=defaults.max_indexing_threads)
    parser.add_argument("--niceness", type=int, default=10, help="CPU niceness of the optimize process")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--path", help="keep the index here instead of a temporary directory")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = run(args)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
