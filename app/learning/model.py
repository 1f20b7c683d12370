"""A tenant's fitted confidence model: the head, the calibrator and the thresholds, as one unit."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from app.learning.calibration import Calibrator
from app.learning.head import PatternHead
from app.learning.scoring import Decision, PatternStats, Thresholds, decide, score_candidates
from indexer.store import Hit

if TYPE_CHECKING:
    from app.learning.memory import TenantMemory
    from app.models import Calibration


class PatternStatsView(Mapping[int, PatternStats]):
    """A tenant's pattern statistics as the scorer reads them; disabled patterns are absent."""

    def __init__(self, memory: TenantMemory) -> None:
        self._patterns = memory.patterns

    def __getitem__(self, pattern_id: int) -> PatternStats:
        state = self._patterns.get(pattern_id)
        if state is None or state.status == "disabled" or state.support == 0:
            raise KeyError(pattern_id)
        return state.stats()

    def __contains__(self, pattern_id: object) -> bool:
        state = self._patterns.get(pattern_id)  # type: ignore[call-overload]
        return state is not None and state.status != "disabled" and state.support > 0

    def __iter__(self) -> Iterator[int]:
        return (pid for pid in self._patterns if pid in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class Assessment:
    """The scorer's verdict on one query: best pattern, calibrated confidence, the evidence."""

    pattern_id: int | None
    confidence: float
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def explanation(self) -> dict[str, Any]:
        """A JSON-ready copy of the evidence."""
        return dict(self.details)

    @classmethod
    def from_decision(cls, decision: Decision) -> Assessment:
        """Wrap the scorer's decision."""
        return cls(decision.pattern_id, decision.confidence, decision.explain())

    @classmethod
    def uncalibrated(cls, hits: list[Hit], memory: TenantMemory) -> Assessment:
        """Before any calibration: the neighbours are shown, no confidence is claimed."""
        candidates = score_candidates(hits, None, PatternStatsView(memory))
        details: dict[str, Any] = {
            "neighbours": [
                {"example_id": h.example_id, "pattern_id": h.pattern_id, "similarity": round(h.score, 4)}
                for h in hits
            ],
        }
        if not candidates:
            return cls(None, 0.0, details, "nothing similar has been learned")
        details["features"] = {k: round(v, 4) for k, v in candidates[0].feature_dict().items()}
        return cls(candidates[0].pattern_id, 0.0, details, "not calibrated yet")


@dataclass
class ConfidenceModel:
    """Everything fitted by a calibration run; immutable once built, swapped as a whole."""

    calibrator: Calibrator
    thresholds: Thresholds
    head: PatternHead | None = None
    calibration_id: int | None = None

    @property
    def suggest_threshold(self) -> float:
        return float(self.thresholds.suggest)

    @property
    def auto_threshold(self) -> float:
        return float(self.thresholds.auto)

    def assess(self, vector: np.ndarray, hits: list[Hit], memory: TenantMemory) -> Assessment:
        """Score the candidate patterns of one query and calibrate the best one."""
        head_proba = self.head.top(vector) if self.head is not None else None
        candidates = score_candidates(hits, vector, PatternStatsView(memory), head_proba)
        if not candidates:
            return Assessment(None, 0.0, {"neighbours": []}, "nothing similar has been learned")
        return Assessment.from_decision(decide(candidates, self.calibrator, self.thresholds))

    @classmethod
    def from_record(cls, record: Calibration) -> ConfidenceModel:
        """Rebuild the model stored by a calibration run."""
        params = record.params
        return cls(
            calibrator=Calibrator.from_dict(params["calibrator"]),
            thresholds=Thresholds(
                suggest=record.suggest_threshold,
                auto=record.auto_threshold,
                suggest_target=float(params.get("suggest_target", 0.90)),
                auto_target=float(params.get("auto_target", 0.98)),
            ),
            head=PatternHead.from_bytes(record.head) if record.head else None,
            calibration_id=record.id,
        )
