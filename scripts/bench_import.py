"""Import and reindex rates at 100,000 examples, cold and warm embedding cache, side by side.

    .venv/bin/python scripts/bench_import.py --n 100000 --cold-n 3000

Texts are derived as `pls bench` does (app/evaluation/bench.py): a few thousand real customer
texts, each copy suffixed with a number, its vector the real one plus a little noise. Warm
means every vector is already in the embedding cache; cold means an empty cache, so every text
goes through the real model (measured on `--cold-n` texts, since 100k real embeddings take
longer than the rest of the benchmark together; the rate is per example either way).
The ratio compares a warm `pls reindex` with a bare rebuild of the same vectors (begin_rebuild,
upsert, commit) on the same engine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.config import Settings
from app.evaluation.bench import BASE_TEXTS, NOISE
from app.evaluation.corpus import labelled_texts
from app.importers.pairs import KIND, line_count, pair_records
from app.importers.runner import run_import
from app.importers.runs import file_fingerprint
from app.indexing import to_points
from app.models import Example
from app.reindex import reindex_all
from app.services import Services, build_services
from embeddings.base import normalise
from embeddings.cache import CachedEmbedder, EmbeddingCache
from embeddings.factory import build_embedder


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def derived(n: int, base: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[int]]:
    """(text, reply) pairs numbered so every text is new, and the base row each came from."""
    replies = {label: f"Here is what to do about {label.split(':', 1)[-1].replace('_', ' ')}." for _, label in base}
    pairs, source = [], []
    for i in range(n):
        text, label = base[i % len(base)]
        pairs.append((f"{text} #{i}", replies[label]))
        source.append(i % len(base))
    return pairs, source


def write_pairs(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"text": t, "reply": r}) + "\n" for t, r in pairs), encoding="utf-8")
    return path


def services_at(root: Path, settings: Settings, cache: Path) -> Services:
    local = settings.model_copy(
        update={"var_dir": root, "database_url": None, "qdrant_url": None, "qdrant_path": None}
    )
    embedder = build_embedder(settings.embedder, cache_path=cache, onnx_dir=settings.onnx_dir, micro_batch=False)
    return build_services(local, embedder=embedder)


def timed_import(services: Services, path: Path) -> tuple[float, int]:
    data = path.read_bytes()
    started = time.perf_counter()
    summary = run_import(
        services,
        tenant="default",
        kind=KIND,
        path=str(path),
        fingerprint=file_fingerprint(data, KIND),
        records=pair_records(path, data, 4000),
        total=line_count(data),
        finish=False,
        chunk=512,
    )
    return time.perf_counter() - started, summary.learned


def bare_rebuild(services: Services) -> float:
    """The same points and vectors straight into a rebuild (vectors read beforehand)."""
    from sqlmodel import Session, col, select

    with Session(services.engine) as session:
        examples = list(session.exec(select(Example).order_by(col(Example.id))).all())
    vectors = services.embedder.embed([e.text for e in examples])
    points = to_points(examples, list(vectors))
    started = time.perf_counter()
    rebuild = services.store.begin_rebuild()
    for i in range(0, len(points), 1000):
        rebuild.upsert(points[i : i + 1000])
    rebuild.commit()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--cold-n", type=int, default=3000)
    args = parser.parse_args()
    settings = Settings()
    base = labelled_texts()[:BASE_TEXTS]
    report: dict[str, Any] = {"n": args.n, "cold_n": args.cold_n}
    with tempfile.TemporaryDirectory(prefix="pls-bench-import-") as tmp:
        root = Path(tmp)
        pairs, source = derived(args.n, base)
        big = write_pairs(root / "pairs.jsonl", pairs)
        cold_pairs = write_pairs(root / "cold.jsonl", pairs[: args.cold_n])

        log(f"cold: importing {args.cold_n} examples, every text through the model")
        cold = services_at(root / "cold", settings, root / "cold-cache.sqlite")
        try:
            seconds, learned = timed_import(cold, cold_pairs)
            report["import_cold_per_s"] = round(learned / seconds, 1)
            log("cold: reindexing them with an empty cache")
            cold.embedder = build_embedder(
                settings.embedder, cache_path=root / "cold-cache-2.sqlite", onnx_dir=settings.onnx_dir, micro_batch=False
            )
            started = time.perf_counter()
            written = reindex_all(cold)
            report["reindex_cold_per_s"] = round(written / (time.perf_counter() - started), 1)
        finally:
            cold.close()

        log(f"warm: filling a cache with the vectors of {args.n} derived texts")
        shared = build_embedder(
            settings.embedder, cache_path=settings.embedding_cache_path, onnx_dir=settings.onnx_dir, micro_batch=False
        )
        try:
            base_vectors = shared.embed([text for text, _ in base])
            replies = sorted({r for _, r in pairs})
            reply_vectors = shared.embed(replies)
        finally:
            shared.close()
        cache = EmbeddingCache(root / "warm-cache.sqlite")
        rng = np.random.default_rng(0)
        for start in range(0, args.n, 5000):
            rows = np.asarray(source[start : start + 5000])
            noisy = normalise(base_vectors[rows] + rng.normal(0, NOISE, (len(rows), base_vectors.shape[1])))
            cache.put_many("all-MiniLM-L6-v2", [t for t, _ in pairs[start : start + 5000]], noisy)
        cache.put_many("all-MiniLM-L6-v2", replies, reply_vectors)
        cache.close()

        warm = services_at(root / "warm", settings, root / "warm-cache.sqlite")
        try:
            assert isinstance(warm.embedder, CachedEmbedder)
            log(f"warm: importing {args.n} examples")
            seconds, learned = timed_import(warm, big)
            report["import_warm_per_s"] = round(learned / seconds, 1)
            report["import_warm_s"] = round(seconds, 1)
            log("warm: reindexing")
            started = time.perf_counter()
            written = reindex_all(warm)
            reindex_s = time.perf_counter() - started
            report["reindex_warm_per_s"] = round(written / reindex_s, 1)
            report["reindex_warm_s"] = round(reindex_s, 1)
            log("bare rebuild of the same vectors")
            bare_s = bare_rebuild(warm)
            report["bare_rebuild_s"] = round(bare_s, 1)
            report["bare_rebuild_per_s"] = round(written / bare_s, 1)
            report["reindex_warm_to_bare"] = round(reindex_s / bare_s, 2)
        finally:
            warm.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
