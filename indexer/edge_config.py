"""Tuning of the embedded engine: shard configuration, payload indexes and search parameters."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

import qdrant_edge as qe

from indexer import schema


@dataclass(frozen=True)
class EdgeTuning:
    """Index and search settings of an edge shard (defaults measured by scripts/bench_index.py)."""

    # Graph shape, measured at 100,000 examples (see scripts/bench_index.py). Every search is
    # filtered to one tenant, and a single global graph (m > 0) lost most of its recall under a
    # tenant filter (0.54-0.88 recall@10 for a tenant holding 28% of the points). m=0 with
    # payload_m builds one graph per tenant instead, from the tenant index's values.
    m: int = 0
    payload_m: int | None = 32
    ef_construct: int = 200
    # Below this many KB of matching vectors a filtered search scans them exactly instead of
    # walking a graph (1.5 KB per 384-dim vector): a tenant gets its own graph from about
    # 4,000 examples. Exact is perfect and as fast up to there; past it the graph wins
    # (15,000 points: 0.31 ms against 1.13 ms for an exact scan, recall@10 0.995).
    full_scan_threshold_kb: int = 6_000
    # One core builds the graph so the other keeps serving searches on a 2-core machine.
    max_indexing_threads: int = 1
    # Search-time candidate list size: 64 keeps recall@10 >= 0.98 for the largest tenant.
    hnsw_ef: int | None = 64
    # ACORN: a filtered graph search that also follows neighbours' neighbours, so a filter
    # that removes most nodes (a small tenant in a shared graph) does not strand the search.
    acorn: bool = False
    # int8 scalar quantization: the graph is built and walked on 1-byte components, and the
    # candidates are rescored against the original vectors, so the scores a hit carries are
    # exact cosines. Measured at 100,000 points: HNSW build 60 s instead of 155 s (synthetic
    # clusters) and 24 s instead of 45 s (pls bench), search p50 0.46 instead of 0.78 ms in a
    # tight loop, recall@10 0.999 either way. It costs 384 bytes of RAM per point, and opening
    # the shard reads them in: 1.0 s instead of 0.2 s at 100,000 points.
    quantize: bool = True
    oversampling: float = 2.0
    # Threads per search over segments (None: one per CPU). One is faster for the small
    # per-tenant searches the matcher makes (0.57 vs 0.72 ms p50 at 100,000 points, ef=64),
    # and concurrent callers already use the other cores.
    search_threads: int | None = 1
    # Segments an optimized shard is split into (0: the engine picks from the CPU count).
    segments: int = 0
    # Segments larger than this many KB of vectors get an HNSW graph when optimize runs, and
    # the service runs it once that many KB of points wait outside a graph (`optimize_due`):
    # every search scans the waiting points one by one (0.16 ms per 1,000 here).
    indexing_threshold_kb: int = 3_000
    # Mark the tenant index as the partition key so optimized segments group points by tenant.
    tenant_partitioned: bool = True


def shard_config(dim: int, tuning: EdgeTuning) -> qe.EdgeConfig:
    """The EdgeConfig a shard of `dim`-dimensional cosine vectors is created and opened with."""
    quantization = (
        qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Cached)
        if tuning.quantize
        else None
    )
    return qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine),
        hnsw_config=qe.HnswIndexConfig(
            m=tuning.m,
            ef_construct=tuning.ef_construct,
            full_scan_threshold=tuning.full_scan_threshold_kb,
            max_indexing_threads=tuning.max_indexing_threads,
            payload_m=tuning.payload_m,
        ),
        quantization_config=quantization,
        optimizers=qe.EdgeOptimizersConfig(
            default_segment_number=tuning.segments,
            indexing_threshold=tuning.indexing_threshold_kb,
        ),
        max_search_threads=tuning.search_threads,
        # Payload is read for every hit; keeping it cached avoids a page fault per result.
        payload_memory=qe.Memory.Cached,
    )


def payload_index_ops(tuning: EdgeTuning) -> list[qe.UpdateOperation]:
    """Operations creating the exact-match payload indexes every shard has."""
    # Only the tenant gets per-value graph links: every search is inside one tenant, while a
    # status value spans most points and ids are unique, so their links would cost build time
    # and buy nothing.
    ops = [
        qe.UpdateOperation.create_field_index(
            schema.TENANT, qe.KeywordIndexParams(is_tenant=tuning.tenant_partitioned, enable_hnsw=True)
        ),
        qe.UpdateOperation.create_field_index(schema.STATUS, qe.KeywordIndexParams(enable_hnsw=False)),
    ]
    ops += [
        qe.UpdateOperation.create_field_index(
            field, qe.IntegerIndexParams(lookup=True, range=False, enable_hnsw=False)
        )
        for field in schema.INTEGER_FIELDS
    ]
    return ops


def search_params(tuning: EdgeTuning, *, exact: bool = False) -> qe.SearchParams:
    """Search parameters for a query (exact=True scans every candidate, for ground truth)."""
    quantization = (
        qe.QuantizationSearchParams(rescore=True, oversampling=tuning.oversampling)
        if tuning.quantize
        else None
    )
    acorn = qe.AcornSearchParams(enable=True) if tuning.acorn else None
    return qe.SearchParams(hnsw_ef=tuning.hnsw_ef, exact=exact, quantization=quantization, acorn=acorn)


def searchable_filter(tenant: str | None, statuses: Collection[str] | None) -> qe.Filter | None:
    """Exact-match filter: one tenant (None: any), one of the statuses (None: any)."""
    return _searchable_filter(tenant, None if statuses is None else tuple(sorted(statuses)))


# Building a filter costs ~60 us of Python per search; the same few are used over and over.
@lru_cache(maxsize=4096)
def _searchable_filter(tenant: str | None, statuses: tuple[str, ...] | None) -> qe.Filter | None:
    must: list[qe.ConditionType] = []
    if tenant is not None:
        must.append(qe.FieldCondition(key=schema.TENANT, match=qe.MatchValue(tenant)))
    if statuses is not None:
        must.append(qe.FieldCondition(key=schema.STATUS, match=qe.MatchAny(list(statuses))))
    return qe.Filter(must=must) if must else None


def tenant_filter(tenant: str | None) -> qe.Filter | None:
    """Exact-match filter on tenant, or None for the whole shard."""
    return _searchable_filter(tenant, None)
