"""Matching: embed, find the nearest learned examples, turn them into a calibrated decision."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine

from app.config import Settings
from app.learning.calibration import NEVER
from app.learning.decision_log import DecisionLog
from app.learning.memory import MemoryRegistry, TenantMemory
from app.learning.model import Assessment
from app.models import Action, DecisionKind, PatternMode, PatternStatus
from app.privacy import mask_pii
from app.text import clean_text
from embeddings.base import Embedder
from embeddings.batching import MicroBatcher, workers_per_core
from indexer.store import Hit, VectorStore

log = logging.getLogger(__name__)


@dataclass
class MatchResult:
    """A decision for one message and everything needed to explain it."""

    tenant: str
    pattern_id: int | None
    reply: str | None
    confidence: float
    action: str
    decision: str
    reason: str
    thresholds: dict[str, float]
    explanation: dict[str, Any] = field(default_factory=dict)
    decision_id: str | None = None
    latency_ms: float = 0.0
    # Where the time went: the embedding and the index search of the batch this message was
    # matched in (shared by its `batch` messages), and the scoring of this message alone.
    stages_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)

    def decision_row(self) -> dict[str, Any]:
        """The fields of the decision log's row that come from this result.

        One mapping for every place that records a match, so a field added here reaches them all.
        """
        return {
            "tenant": self.tenant,
            "pattern_id": self.pattern_id,
            "confidence": self.confidence,
            "action": str(self.action),
            "decision": str(self.decision),
            "reason": self.reason,
            "threshold": self.thresholds.get(str(self.action)),
            "explanation": self.explanation,
            "calibration_id": self.explanation.get("calibration_id"),
            "latency_ms": self.latency_ms,
            "stages_ms": self.stages_ms,
        }


# The timed stages of a match: the keys of `MatchResult.stages_ms` besides "batch".
STAGES = ("embed", "search", "score")
EMBED, SEARCH, SCORE = STAGES


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def abstention(
    tenant: str, reason: str, thresholds: dict[str, float], explanation: dict[str, Any] | None = None
) -> MatchResult:
    """No answer: a human sees the message."""
    return MatchResult(
        tenant, None, None, 0.0, Action.abstain, DecisionKind.abstain, reason, thresholds, explanation or {}
    )


def action_for(confidence: float, suggest_threshold: float, auto_threshold: float) -> Action:
    """What the confidence alone supports."""
    if confidence >= auto_threshold:
        return Action.auto
    if confidence >= suggest_threshold:
        return Action.suggest
    return Action.abstain


def decision_for(action: Action, status: str, mode: str) -> tuple[DecisionKind, str]:
    """What PLS does once the pattern's status and mode are applied, and why."""
    if action is Action.abstain:
        return DecisionKind.abstain, "confidence below the suggest threshold"
    if status != PatternStatus.approved:
        return DecisionKind.shadow, f"pattern is {status}: recorded only (would {action.value})"
    if mode == PatternMode.shadow:
        return DecisionKind.shadow, f"pattern is in shadow mode: recorded only (would {action.value})"
    if mode == PatternMode.suggest or action is Action.suggest:
        return DecisionKind.suggest, "draft offered to the operator"
    return DecisionKind.auto, "confidence above the auto threshold"


@dataclass(frozen=True)
class _Query:
    memory: TenantMemory
    text: str  # cleaned and masked


class Matcher:
    """Answers 'have I seen this before, and how sure am I?' for one tenant at a time.

    Concurrent matches are run as batches (one model run, one index call for all of them):
    sixteen threads each doing their own search and scoring would spend their time taking
    turns at the interpreter lock. A lone caller is matched at once in its own thread.
    """

    def __init__(
        self,
        engine: Engine,
        embedder: Embedder,
        store: VectorStore,
        memories: MemoryRegistry,
        settings: Settings,
        decisions: DecisionLog,
    ) -> None:
        self.decisions = decisions
        self.engine = engine
        self.embedder = embedder
        self.store = store
        self.memories = memories
        self.k = settings.k
        self.max_chars = settings.max_text_chars
        # While one batch is scored in Python, the next one's model run (which releases the
        # interpreter lock) proceeds beside it.
        self._batcher: MicroBatcher[_Query, list[MatchResult]] = MicroBatcher(
            self._match_batch, max_batch=32, workers=workers_per_core(), name="match-batcher"
        )

    def match(
        self, tenant: str, text: str, record: bool = True, message_id: int | None = None
    ) -> MatchResult:
        """Decide for one message; with `record`, the decision is stored for audit and metrics."""
        started = time.perf_counter()
        # Masked before it is embedded or stored in the decision log: no raw PII leaves here.
        text = mask_pii(clean_text(text, "text", self.max_chars))
        memory = self.memories.get(tenant)  # raises TenantNotFound
        result = self._batcher.submit([_Query(memory, text)])[0]
        result.latency_ms = _ms(time.perf_counter() - started)
        if record:
            result.decision_id = self._record(text, result, message_id)
        return result

    def close(self) -> None:
        """Finish the matches under way and stop the batch workers."""
        self._batcher.close()

    def _match_batch(self, queries: list[_Query]) -> list[MatchResult]:
        """Decisions for several queries: one embedding call, one index call per tenant."""
        started = time.perf_counter()
        vectors = self.embedder.embed([query.text for query in queries])
        embedded = time.perf_counter()
        rows_of: dict[str, list[int]] = defaultdict(list)
        for row, query in enumerate(queries):
            rows_of[query.memory.tenant].append(row)
        results: dict[int, MatchResult] = {}
        searched_s = 0.0
        for tenant, rows in rows_of.items():
            began = time.perf_counter()
            try:
                found = self.store.search_batch(vectors[rows], tenant, self.k)
            except Exception as error:  # fail safe: no answer, a human sees the message
                log.warning("vector search failed for tenant %s: %s", tenant, error)
                reason = f"vector index unavailable: {error.__class__.__name__}"
                for row in rows:
                    results[row] = abstention(tenant, reason, {"suggest": NEVER, "auto": NEVER})
                continue
            finally:
                searched_s += time.perf_counter() - began
            for row, hits in zip(rows, found, strict=True):
                began = time.perf_counter()
                results[row] = result = self.decide(queries[row].memory, vectors[row], hits)
                result.stages_ms[SCORE] = _ms(time.perf_counter() - began)
        shared = {EMBED: _ms(embedded - started), SEARCH: _ms(searched_s), "batch": len(queries)}
        for result in results.values():
            result.stages_ms.update(shared)
        return [results[row] for row in range(len(queries))]

    def decide(self, memory: TenantMemory, vector: Any, hits: list[Hit]) -> MatchResult:
        """The decision these neighbours support in this memory (dry runs pass a changed memory)."""
        model = memory.model
        assessment: Assessment = (
            model.assess(vector, hits, memory) if model is not None else Assessment.uncalibrated(hits, memory)
        )
        thresholds = {
            "suggest": model.suggest_threshold if model else NEVER,
            "auto": model.auto_threshold if model else NEVER,
        }
        explanation = assessment.explanation()
        explanation["calibration_id"] = model.calibration_id if model else None
        if assessment.pattern_id is None:
            reason = assessment.reason or "nothing similar has been learned"
            return abstention(memory.tenant, reason, thresholds, explanation)
        state = memory.patterns[assessment.pattern_id]
        if state.threshold_override is not None and model is not None:
            thresholds["auto"] = state.threshold_override
        action = action_for(assessment.confidence, thresholds["suggest"], thresholds["auto"])
        decision, reason = decision_for(action, state.status, state.mode)
        if model is None:
            reason = "not calibrated yet: a human answers until enough has been learned"
        return MatchResult(
            memory.tenant,
            assessment.pattern_id,
            state.response_text,
            round(assessment.confidence, 4),
            action,
            decision,
            reason,
            thresholds,
            explanation,
        )

    def _record(self, text: str, result: MatchResult, message_id: int | None) -> str:
        return self.decisions.record(**result.decision_row(), message_id=message_id, text=text)
