"""Fitting a tenant's confidence model from what PLS already has, and keeping it fresh."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from app.config import Settings
from app.db import session_scope
from app.learning.calibration import (
    FeedbackRow,
    build_calibration_set,
    choose_thresholds,
    expected_calibration_error,
)
from app.learning.loader import active_examples
from app.learning.memory import MemoryRegistry
from app.learning.model import ConfidenceModel, PatternStatsView
from app.models import Calibration
from embeddings.base import Embedder
from indexer.store import VectorStore

log = logging.getLogger(__name__)

# Fewer examples than this cannot tell right from wrong; a human answers until then.
MIN_EXAMPLES = 10


class CalibrationService:
    """Refits calibration on demand (`pls calibrate`, imports) and when learning has grown."""

    def __init__(
        self,
        engine: Engine,
        embedder: Embedder,
        store: VectorStore,
        memories: MemoryRegistry,
        settings: Settings,
        feedback: Callable[[str], Sequence[FeedbackRow]] | None = None,
    ) -> None:
        self.feedback = feedback  # operators' verdicts, joined to the replayed rows
        self.engine = engine
        self.embedder = embedder
        self.store = store
        self.memories = memories
        self.settings = settings

    def fit(self, tenant: str) -> dict[str, Any]:
        """Fit, store and activate a new confidence model; returns its summary."""
        started = time.perf_counter()
        memory = self.memories.get(tenant)
        with Session(self.engine) as session:
            examples = active_examples(session, tenant)
        learned_before = memory.learned_since_fit
        if len(examples) < MIN_EXAMPLES:
            return {"tenant": tenant, "fitted": False, "reason": f"fewer than {MIN_EXAMPLES} examples"}
        vectors = self.embedder.embed([e.text for e in examples])
        pattern_ids = np.array([e.pattern_id for e in examples], dtype=np.int64)
        example_ids = np.array([e.id for e in examples], dtype=np.int64)
        k = self.settings.k

        def search(queries: np.ndarray, limit: int) -> list:  # type: ignore[type-arg]
            return self.store.search_batch(queries, tenant, limit)

        cal = build_calibration_set(
            vectors,
            pattern_ids,
            example_ids,
            search,
            PatternStatsView(memory),
            k=k,
            max_examples=self.settings.calibration_sample,
            feedback=self.feedback(tenant) if self.feedback else (),
        )
        if len(cal) == 0 or cal.correct.all() and len(cal) < MIN_EXAMPLES:
            return {"tenant": tenant, "fitted": False, "reason": "not enough evidence to calibrate"}
        targets = (self.settings.suggest_precision, self.settings.auto_precision)
        calibrator, thresholds, oof = choose_thresholds(cal, targets)
        summary = {
            "rows": len(cal),
            "rows_by_kind": dict(Counter(str(kind) for kind in cal.kinds)),
            "ece_cross_fitted": round(expected_calibration_error(oof, cal.correct, bins=10), 4),
            "patterns": int(np.unique(pattern_ids).shape[0]),
            "examples": len(examples),
            "seconds": round(time.perf_counter() - started, 2),
        }
        record = Calibration(
            tenant=tenant,
            params={
                "calibrator": calibrator.to_dict(),
                "suggest_target": targets[0],
                "auto_target": targets[1],
            },
            head=cal.head.to_bytes() if cal.head is not None else None,  # type: ignore[attr-defined]
            suggest_threshold=float(thresholds.suggest),
            auto_threshold=float(thresholds.auto),
            n_rows=len(cal),
            summary=summary,
        )
        with session_scope(self.engine) as session:
            session.exec(  # type: ignore[call-overload]
                update(Calibration).where(col(Calibration.tenant) == tenant).values(active=False)
            )
            session.add(record)
            session.flush()
        memory.model = ConfidenceModel.from_record(record)
        memory.learned_since_fit = max(0, memory.learned_since_fit - learned_before)
        self.memories.settle(tenant, memory)
        log.info("calibrated tenant %s: %s", tenant, summary)
        return {
            "tenant": tenant,
            "fitted": True,
            "calibration_id": record.id,
            "suggest_threshold": round(record.suggest_threshold, 4),
            "auto_threshold": round(record.auto_threshold, 4),
            **summary,
        }

    def refit_stale(self, min_new: int = 20, share: float = 0.1) -> list[str]:
        """Refit tenants whose learning grew by `min_new` examples and `share` since the last fit."""
        refitted = []
        for memory in self.memories.loaded():
            support = sum(state.support for state in memory.patterns.values())
            if memory.learned_since_fit >= max(min_new, share * support):
                self.fit(memory.tenant)
                refitted.append(memory.tenant)
        return refitted
