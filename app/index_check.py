"""`pls index verify`: does the vector index hold exactly what SQL says, and `--repair` if not.

Checks, cheapest first: pending outbox writes; the embedding model of the last rebuild against
the configured one; point counts per tenant; the id sets (missing and extra points); payloads
(pattern, tenant, status, quality) of a sample or of every point; and, for a sample, that the
stored vector is the embedding of the example's text.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.indexing import to_points
from app.models import Example
from app.services import Services
from indexer.store import StoredPoint

RETRIEVE_BATCH = 1000
VECTOR_TOLERANCE = 1e-3  # cosine distance; the same model and text give the same vector


@dataclass
class VerifyReport:
    """What differs between SQL and the index (empty lists: nothing)."""

    sql_count: int = 0
    index_count: int = 0
    tenants: dict[str, dict[str, int]] = field(default_factory=dict)
    pending_outbox: int = 0
    index_model: str | None = None
    model: str = ""
    missing: list[int] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)
    payload_mismatch: list[int] = field(default_factory=list)
    vector_mismatch: list[int] = field(default_factory=list)
    payloads_checked: int = 0
    vectors_checked: int = 0
    repaired: dict[str, int] = field(default_factory=dict)

    @property
    def model_changed(self) -> bool:
        """The index was rebuilt with another embedding model than the one configured."""
        return self.index_model is not None and self.index_model != self.model

    @property
    def ok(self) -> bool:
        """Nothing differs."""
        return not (
            self.missing or self.extra or self.payload_mismatch or self.vector_mismatch or self.model_changed
        )

    def as_dict(self, limit: int = 20) -> dict[str, Any]:
        """JSON-ready report, id lists cut to `limit` (counts are complete)."""
        data = asdict(self)
        for key in ("missing", "extra", "payload_mismatch", "vector_mismatch"):
            data[f"{key}_count"] = len(data[key])
            data[key] = data[key][:limit]
        data["model_changed"] = self.model_changed
        data["ok"] = self.ok
        return data


@dataclass(frozen=True)
class VerifyOptions:
    """What `pls index verify` was asked to do (sent to the service that holds the index)."""

    sample: int = 500
    payloads: Literal["sample", "all"] = "sample"
    repair: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_and_repair(services: Services, options: VerifyOptions) -> VerifyReport:
    """Verify; with `repair`, repair and verify again, reporting what is left and what was done."""
    report = verify(services, sample=options.sample, payloads=options.payloads, repair=options.repair)
    if options.repair and report.repaired:
        after = verify(services, sample=options.sample, payloads=options.payloads)
        after.repaired = dict(report.repaired)
        report = after
    return report


def verify(
    services: Services,
    *,
    sample: int = 500,
    payloads: Literal["sample", "all"] = "sample",
    repair: bool = False,
    seed: int | None = None,
) -> VerifyReport:
    """Compare SQL with the index; with `repair`, make the index match SQL again."""
    from app.reindex import index_model

    report = VerifyReport(model=services.embedder.model_id, index_model=index_model(services))
    if repair:
        services.index_writer.flush_outbox()
    report.pending_outbox = services.index_writer.pending()
    with Session(services.engine) as session:
        rows = session.execute(
            sa_select(  # type: ignore[call-overload]
                col(Example.id),
                col(Example.tenant),
                col(Example.pattern_id),
                col(Example.status),
                col(Example.quality),
            )
        ).all()
    expected = {int(r[0]): (r[1], int(r[2]), r[3], float(r[4])) for r in rows}
    indexed = services.store.example_ids()
    report.sql_count, report.index_count = len(expected), services.store.count()
    for tenant in sorted({t for t, _, _, _ in expected.values()}):
        report.tenants[tenant] = {
            "sql": sum(1 for t, _, _, _ in expected.values() if t == tenant),
            "index": services.store.count(tenant),
        }
    report.missing = sorted(set(expected) - indexed)
    report.extra = sorted(indexed - set(expected))
    common = sorted(set(expected) & indexed)
    rng = random.Random(seed)
    checked = common if payloads == "all" else rng.sample(common, min(sample, len(common)))
    vector_ids = set(rng.sample(checked, min(sample, len(checked))))
    for start in range(0, len(checked), RETRIEVE_BATCH):
        ids = checked[start : start + RETRIEVE_BATCH]
        with_vectors = [i for i in ids if i in vector_ids]
        stored = services.store.retrieve(ids, with_vectors=False)
        report.payloads_checked += len(stored)
        report.payload_mismatch += [p.example_id for p in stored if not _same(p, expected[p.example_id])]
        if with_vectors:
            report.vector_mismatch += _vector_mismatches(services, with_vectors)
            report.vectors_checked += len(with_vectors)
    if repair:
        report.repaired = _repair(services, report)
    return report


def _same(point: StoredPoint, want: tuple[str, int, str, float]) -> bool:
    tenant, pattern_id, status, quality = want
    return (point.tenant, point.pattern_id, point.status) == (tenant, pattern_id, status) and abs(
        point.quality - quality
    ) < 1e-6


def _vector_mismatches(services: Services, ids: list[int]) -> list[int]:
    stored = {p.example_id: p.vector for p in services.store.retrieve(ids, with_vectors=True)}
    with Session(services.engine) as session:
        examples = session.exec(select(Example).where(col(Example.id).in_(ids))).all()
    wanted = services.embedder.embed([e.text for e in examples])
    bad = []
    for example, vector in zip(examples, wanted, strict=True):
        got = stored.get(example.id or 0)
        if got is None or got.shape != vector.shape or 1.0 - float(np.dot(got, vector)) > VECTOR_TOLERANCE:
            bad.append(example.id or 0)
    return sorted(bad)


def _repair(services: Services, report: VerifyReport) -> dict[str, int]:
    """Re-upsert missing and differing points from SQL (vectors via the cache), drop extras."""
    if report.model_changed:
        from app.reindex import reindex_all

        # Vectors of another model cannot be patched point by point: rebuild everything.
        return {"reindexed": reindex_all(services, fresh=True)}
    fix = sorted(set(report.missing) | set(report.payload_mismatch) | set(report.vector_mismatch))
    for start in range(0, len(fix), RETRIEVE_BATCH):
        with Session(services.engine) as session:
            examples = list(
                session.exec(
                    select(Example).where(col(Example.id).in_(fix[start : start + RETRIEVE_BATCH]))
                ).all()
            )
        vectors = services.embedder.embed([e.text for e in examples])
        services.store.upsert(to_points(examples, list(vectors)))
    if report.extra:
        services.store.delete(report.extra)
    return {"upserted": len(fix), "deleted": len(report.extra)}
