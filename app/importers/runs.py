"""Import runs in SQL: where an import got to, so one killed half-way resumes there."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import session_scope
from app.models import ImportRun, utcnow

MAX_ERRORS_KEPT = 200


def file_fingerprint(data: bytes, *options: str) -> str:
    """sha256 of a file's bytes and the options that change what is read from it."""
    digest = hashlib.sha256(data)
    for option in options:
        digest.update(b"\x1f" + option.encode("utf-8"))
    return digest.hexdigest()


@dataclass
class ImportSummary:
    """Totals of an import (a resumed run continues the counts of the run it resumes)."""

    run_id: int = 0
    resumed_from: int = 0
    read: int = 0
    learned: int = 0
    duplicates: int = 0
    voided: int = 0
    skipped: int = 0
    void_reasons: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    calibration: dict[str, Any] | None = None
    candidates: int | None = None
    # The regrouping of differently worded examples at the end (`Refiled` as a dict), if any.
    regrouped: dict[str, int | None] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready totals."""
        return {
            "run_id": self.run_id,
            "resumed_from": self.resumed_from,
            "read": self.read,
            "learned": self.learned,
            "duplicates": self.duplicates,
            "voided": self.voided,
            "void_reasons": dict(self.void_reasons.most_common()),
            "skipped": self.skipped,
            "errors": self.error_count,
            "error_lines": self.errors,
            "calibrated": bool(self.calibration and self.calibration.get("fitted", True)),
            "candidates": self.candidates,
            "regrouped": self.regrouped,
        }

    def counts(self) -> dict[str, Any]:
        """What the run row keeps between processes."""
        return {
            "read": self.read,
            "learned": self.learned,
            "duplicates": self.duplicates,
            "voided": self.voided,
            "skipped": self.skipped,
            "void_reasons": dict(self.void_reasons),
            "errors": self.errors[:MAX_ERRORS_KEPT],
            "error_count": self.error_count,
        }

    @classmethod
    def from_run(cls, run: ImportRun) -> ImportSummary:
        """Totals so far of a run being resumed."""
        counts = run.counts or {}
        return cls(
            run_id=run.id or 0,
            resumed_from=run.position,
            read=int(counts.get("read", 0)),
            learned=int(counts.get("learned", 0)),
            duplicates=int(counts.get("duplicates", 0)),
            voided=int(counts.get("voided", 0)),
            skipped=int(counts.get("skipped", 0)),
            void_reasons=Counter(counts.get("void_reasons", {})),
            errors=list(counts.get("errors", [])),
            error_count=int(counts.get("error_count", 0)),
        )


def open_run(engine: Engine, tenant: str, kind: str, path: str, fingerprint: str, total: int) -> ImportRun:
    """The unfinished run of this very file (to resume), or a new one."""
    with session_scope(engine) as session:
        run = session.exec(
            select(ImportRun)
            .where(
                ImportRun.tenant == tenant,
                ImportRun.kind == kind,
                ImportRun.fingerprint == fingerprint,
                ImportRun.status == "running",
            )
            .order_by(col(ImportRun.id).desc())
            .limit(1)
        ).first()
        if run is None:
            run = ImportRun(tenant=tenant, kind=kind, path=path, fingerprint=fingerprint, total=total)
            session.add(run)
            session.flush()
        return run


def save_progress(
    engine: Engine, run_id: int, position: int, summary: ImportSummary, done: bool = False
) -> None:
    """Record that every record up to `position` is committed, with the totals so far."""
    with session_scope(engine) as session:
        run = session.get(ImportRun, run_id)
        assert run is not None
        run.position = position
        run.counts = summary.counts()
        run.updated_at = utcnow()
        if done:
            run.status = "done"
            run.finished_at = run.updated_at


def list_runs(engine: Engine, tenant: str, limit: int = 20) -> list[ImportRun]:
    """A tenant's latest import runs, newest first."""
    with Session(engine) as session:
        return list(
            session.exec(
                select(ImportRun)
                .where(ImportRun.tenant == tenant)
                .order_by(col(ImportRun.id).desc())
                .limit(limit)
            ).all()
        )
