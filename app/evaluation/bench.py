"""`pls bench`: match latency and throughput at a realistic index size, measured side by side.

N examples are derived from a few thousand really embedded customer texts (each copy is the
real vector plus a little noise, so neighbourhoods look like real traffic); the queries are
other real texts, embedded for real during the measurement.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from app.config import Settings
from app.db import session_scope
from app.evaluation.corpus import labelled_texts
from app.evaluation.runner import embed_latency, innermost, percentile_ms
from app.indexing import to_points
from app.learning.matcher import STAGES
from app.models import Example, Pattern
from app.services import Services, build_services
from app.text import fingerprint
from embeddings.base import normalise
from embeddings.batching import batch_worker_role, workers_per_core
from embeddings.cache import CachedEmbedder
from embeddings.factory import build_embedder

BASE_TEXTS = 3000
NOISE = 0.025  # per dimension: a copy keeps cosine ~0.9 with the text it was derived from
CHUNK = 5000
CONCURRENCY = 16
ROUNDS = 4  # lone and concurrent matches alternate, so machine drift lands on both
# Concurrent matches per lone one: a round's concurrent phase must be long enough that its
# ramp-up and its last, part-filled batches do not dominate it.
CONCURRENT_SHARE = 4
# Texts per model run when the model alone is timed on every core: about what each of the
# batch workers gets under 16 callers.
PARALLEL_BATCH = 8

Log = Callable[[str], None] | None


def _say(log: Log, message: str) -> None:
    if log:
        log(message)


def run_bench(
    n: int, settings: Settings, queries: int = 400, log: Log = None, base_texts: int = BASE_TEXTS
) -> dict[str, Any]:
    """Build an index of `n` examples on temporary stores and time matching against it."""
    corpus = labelled_texts()
    base = corpus[: min(base_texts, len(corpus) // 2)]
    query_texts = [text for text, _ in corpus[len(base) :]][: (1 + CONCURRENT_SHARE) * queries]
    with tempfile.TemporaryDirectory(prefix="pls-bench-") as tmp:
        services = temporary_services(settings, Path(tmp))
        try:
            return _bench(services, settings, base, query_texts, n, queries, log)
        finally:
            services.close()


def temporary_services(settings: Settings, directory: Path) -> Services:
    """Services on fresh stores in `directory`, with an embedding cache of their own there
    (it will hold the derived vectors of synthetic texts)."""
    local = settings.model_copy(
        update={"var_dir": directory, "database_url": None, "qdrant_url": None, "qdrant_path": None}
    )
    embedder = build_embedder(
        settings.embedder, cache_path=directory / "embeddings.sqlite", onnx_dir=settings.onnx_dir
    )
    return build_services(local, embedder=embedder)


def index_derived(
    services: Services, settings: Settings, base: Sequence[tuple[str, str]], n: int, log: Log = None
) -> None:
    """Index `n` examples derived from the real texts of `base` for the default tenant.

    The real texts are embedded through the shared embedding cache, so reruns reuse them.
    """
    _say(log, f"embedding {len(base)} real texts (cached across runs)")
    shared = build_embedder(
        settings.embedder,
        cache_path=settings.embedding_cache_path,
        onnx_dir=settings.onnx_dir,
        micro_batch=False,
    )
    try:
        base_vectors = shared.embed([text for text, _ in base])
    finally:
        shared.close()
    _say(log, f"indexing {n} derived examples")
    _populate(services, services.settings.default_tenant, base, base_vectors, n)


def _bench(
    services: Services,
    settings: Settings,
    base: Sequence[tuple[str, str]],
    query_texts: Sequence[str],
    n: int,
    queries: int,
    log: Log,
) -> dict[str, Any]:
    tenant = services.settings.default_tenant
    started = time.perf_counter()
    index_derived(services, settings, base, n, log)
    indexed_s = time.perf_counter() - started
    optimize_s = _optimize(services, log)
    _say(log, "calibrating")
    services.calibration.fit(tenant)
    services.memories.get(tenant)

    _say(log, "timing the embedder alone (tight loop)")
    tight_s = embed_latency(services.embedder, query_texts[:queries], n=queries)
    _say(log, f"timing in {ROUNDS} rounds: embedder and match side by side, then {CONCURRENCY} callers")
    model = innermost(services.embedder)
    cache = innermost_cache(services)
    misses_before = cache.misses
    lone_texts = query_texts[:queries]
    # Each lone text is embedded by the bare model, then matched: the ratio compares the same
    # texts (token counts vary between texts, and the model's time with them). The bare model
    # writes no cache row, so the match embeds the text again.
    timings = timed_rounds(
        model.embed_one,
        lambda text: services.matcher.match(tenant, text),
        lone_texts,
        lone_texts,
        query_texts[queries : (1 + CONCURRENT_SHARE) * queries],
        embed_batch=model.embed_batch,
    )
    embed_s, match_s = timings.embed_s, timings.match_s
    stages = match_stages(timings.match_results, match_s)
    rate_1 = len(match_s) / sum(match_s)
    rate_16 = timings.concurrent_matches / timings.concurrent_s
    # The model's own texts per second: one at a time as a lone match runs it, and in batches
    # on every core as the concurrent matches run it. Their ratio is the concurrency gain the
    # model alone allows on this machine.
    model_rate_1 = len(embed_s) / sum(embed_s)
    model_rate_parallel = timings.parallel_texts / timings.parallel_s
    embed_p50, match_p50 = percentile_ms(embed_s, 50), percentile_ms(match_s, 50)
    return {
        "n_examples": services.store.count(tenant),
        "embed_p50_ms": embed_p50,
        "embed_tight_loop_p50_ms": percentile_ms(tight_s, 50),
        "match_p50_ms": match_p50,
        "match_p99_ms": percentile_ms(match_s, 99),
        "match_stages_p50_ms": {name: percentile_ms(seconds, 50) for name, seconds in stages.items()},
        "match_to_embed_p50": round(match_p50 / embed_p50, 3) if embed_p50 else None,
        "matches_per_s_1": round(rate_1, 1),
        "matches_per_s_16": round(rate_16, 1),
        "concurrency_gain": round(rate_16 / rate_1, 2),
        "model_texts_per_s_1": round(model_rate_1, 1),
        "model_texts_per_s_parallel": round(model_rate_parallel, 1),
        "model_gain_ceiling": round(model_rate_parallel / model_rate_1, 2),
        "matches_timed_1": len(match_s),
        # Every match must have run the model: texts served from the cache would flatter it.
        "match_model_runs": cache.misses - misses_before,
        "matches_timed_16": timings.concurrent_matches,
        "index_build_s": round(indexed_s, 1),
        "optimize_s": round(optimize_s, 1),
    }


@dataclass
class Timings:
    """Seconds per bare embedding and per lone match, and the concurrent phases' totals."""

    embed_s: list[float] = field(default_factory=list)
    match_s: list[float] = field(default_factory=list)
    match_results: list[object] = field(default_factory=list)  # what each lone match returned
    concurrent_matches: int = 0
    concurrent_s: float = 0.0
    # The model alone as the batch workers run it: every worker embedding batches side by side.
    parallel_texts: int = 0
    parallel_s: float = 0.0


def timed_rounds(
    embed: Callable[[str], object],
    match: Callable[[str], object],
    embed_texts: Sequence[str],
    match_texts: Sequence[str],
    concurrent_texts: Sequence[str],
    rounds: int = ROUNDS,
    concurrency: int = CONCURRENCY,
    embed_batch: Callable[[Sequence[str]], object] | None = None,
) -> Timings:
    """One caller and `concurrency` callers, timed in alternating rounds.

    A shared machine's speed drifts by tens of percent within a minute; timing all lone
    matches first and all concurrent ones after would put that drift into their ratio. Each
    round times a share of the lone matches (alternating with bare embeddings), then a share
    of the concurrent ones, then (with `embed_batch`) the same texts through the model alone,
    in batches on every batch worker's core: what the model allows the concurrent matches.
    """
    timings = Timings()
    with ThreadPoolExecutor(concurrency) as pool:
        for r in range(rounds):
            embed_s, match_s, results = side_by_side(
                embed, match, _share(embed_texts, r, rounds), _share(match_texts, r, rounds)
            )
            timings.embed_s += embed_s
            timings.match_s += match_s
            timings.match_results += results
            texts = _share(concurrent_texts, r, rounds)
            began = time.perf_counter()
            list(pool.map(match, texts))
            timings.concurrent_s += time.perf_counter() - began
            timings.concurrent_matches += len(texts)
            if embed_batch is not None:
                timings.parallel_s += model_in_parallel(embed_batch, texts)
                timings.parallel_texts += len(texts)
    return timings


def model_in_parallel(
    embed_batch: Callable[[Sequence[str]], object], texts: Sequence[str], batch: int = PARALLEL_BATCH
) -> float:
    """Seconds the model takes for `texts` in batches, on one worker per core in the workers' role.

    The concurrent matches cannot go faster than this, whatever the index and the scoring do:
    their rate over this one says how much of the model's own throughput they reach.
    """
    workers = workers_per_core()
    batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]

    def work(share: Sequence[Sequence[str]]) -> None:
        with batch_worker_role():
            for chunk in share:
                embed_batch(chunk)

    with ThreadPoolExecutor(workers) as pool:
        began = time.perf_counter()
        list(pool.map(work, [batches[w::workers] for w in range(workers)]))
        return time.perf_counter() - began


def _share(texts: Sequence[str], r: int, rounds: int) -> Sequence[str]:
    """The r-th of `rounds` near-equal slices of `texts`."""
    return texts[r * len(texts) // rounds : (r + 1) * len(texts) // rounds]


def side_by_side(
    embed: Callable[[str], object],
    match: Callable[[str], object],
    embed_texts: Sequence[str],
    match_texts: Sequence[str],
) -> tuple[list[float], list[float], list[object]]:
    """Seconds per bare embedding and per full match, taken alternately in one loop, and what
    each match returned.

    Alternating puts both under the same conditions: a model called in a tight loop keeps its
    weights in the CPU caches and its threads awake, which no call inside a match enjoys, and
    noise from the rest of the machine (other processes, frequency changes) lands on both.
    """
    embed_s: list[float] = []
    match_s: list[float] = []
    results: list[object] = []
    for embed_text, match_text in zip(embed_texts, match_texts, strict=False):
        started = time.perf_counter()
        embed(embed_text)
        embed_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        results.append(match(match_text))
        match_s.append(time.perf_counter() - started)
    return embed_s, match_s, results


def match_stages(results: Sequence[object], match_s: Sequence[float]) -> dict[str, list[float]]:
    """Seconds per stage of each lone match, and the rest of its time (text checks, masking,
    hand-offs, the decision log) under "rest".

    A lone match is a batch of one, so its batch's embedding and search are its own.
    """
    stages: dict[str, list[float]] = {name: [] for name in (*STAGES, "rest")}
    for result, total in zip(results, match_s, strict=True):
        timed = getattr(result, "stages_ms", None) or {}
        if not all(name in timed for name in STAGES):
            continue  # a match that failed safe before it was searched or scored
        seconds = [timed[name] / 1000 for name in STAGES]
        for name, value in zip(STAGES, seconds, strict=True):
            stages[name].append(value)
        stages["rest"].append(max(total - sum(seconds), 0.0))
    return stages


def _optimize(services: Services, log: Log) -> float:
    _say(log, "building HNSW (optimize)")
    began = time.perf_counter()
    services.store.optimize()  # a no-op for engines that index on their own
    return time.perf_counter() - began


def _populate(
    services: Services, tenant: str, base: Sequence[tuple[str, str]], base_vectors: np.ndarray, n: int
) -> None:
    """SQL rows, index points and cache entries for `n` examples derived from `base`."""
    labels = sorted({label for _, label in base})
    replies = {
        label: f"Here is what to do about {label.split(':', 1)[-1].replace('_', ' ')}." for label in labels
    }
    cached = innermost_cache(services)
    reply_texts = list(replies.values())
    cached.cache.put_many(cached.model_id, reply_texts, innermost(services.embedder).embed(reply_texts))
    with session_scope(services.engine) as session:
        patterns = {
            label: Pattern(tenant=tenant, response_text=replies[label], reply_key=fingerprint(replies[label]))
            for label in labels
        }
        session.add_all(patterns.values())
        session.flush()
        pattern_ids = {label: p.id for label, p in patterns.items()}
    rng = np.random.default_rng(0)
    next_id = 1
    for start in range(0, n, CHUNK):
        size = min(CHUNK, n - start)
        source = np.arange(start, start + size) % len(base)
        vectors = normalise(base_vectors[source] + rng.normal(0, NOISE, (size, base_vectors.shape[1])))
        rows: list[dict[str, Any]] = []
        for offset, b in enumerate(source.tolist()):
            text, label = base[b]
            text = f"{text} #{start + offset}"
            rows.append(
                {
                    "id": next_id + offset,
                    "tenant": tenant,
                    "pattern_id": pattern_ids[label],
                    "text": text,
                    "reply": replies[label],
                    "context": [],
                    "quality": 1.0,
                    "status": "active",
                    "text_hash": fingerprint(text, replies[label]),
                    "source": "bench",
                }
            )
        with session_scope(services.engine) as session:
            session.execute(insert(Example), rows)
        cached.cache.put_many(cached.model_id, [str(r["text"]) for r in rows], vectors)
        examples = [Example(**row) for row in rows]
        services.store.upsert(to_points(examples, list(vectors)))
        next_id += size


def innermost_cache(services: Services) -> CachedEmbedder:
    """The content cache inside the service's embedder stack."""
    embedder = services.embedder
    while not isinstance(embedder, CachedEmbedder):
        embedder = embedder.inner  # type: ignore[attr-defined]
    return embedder
