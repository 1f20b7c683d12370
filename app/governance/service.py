"""Runs governance actions: committed with an audit event, or as a dry run that writes nothing.

A dry run applies the action inside a transaction that is rolled back, rebuilds the tenant's
memory as that transaction sees it, and re-decides the tenant's recent messages both ways, so
the caller sees exactly which decisions the change would turn, before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.governance import audit
from app.governance.rows import ChangeSet
from app.indexing import IndexWriter, enqueue
from app.learning.loader import SEARCHABLE, MemoryLoader
from app.learning.matcher import Matcher, MatchResult
from app.learning.memory import MemoryRegistry, TenantMemory
from app.models import Decision, Example, Pattern
from app.patterns import recount
from app.tenants import require_tenant
from embeddings.base import Embedder
from indexer.store import VectorStore

log = logging.getLogger(__name__)

# How many of the newest decisions a dry run re-decides.
DRY_RUN_DECISIONS = 200

Action = Callable[[Session, ChangeSet], Any]


@dataclass
class Outcome:
    """What an action did (or, in a dry run, would do)."""

    dry_run: bool
    result: Any = None
    audit_id: int | None = None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the action's own result is added by the caller)."""
        return {
            "dry_run": self.dry_run,
            "audit_id": self.audit_id,
            "before": self.before,
            "after": self.after,
            "decisions_changed": self.decisions,
        }


class GovernanceService:
    """The one way people change what PLS learned."""

    def __init__(
        self,
        engine: Engine,
        embedder: Embedder,
        store: VectorStore,
        memories: MemoryRegistry,
        loader: MemoryLoader,
        matcher: Matcher,
        index_writer: IndexWriter,
        k: int,
    ) -> None:
        self.engine = engine
        self.embedder = embedder
        self.store = store
        self.memories = memories
        self.loader = loader
        self.matcher = matcher
        self.index_writer = index_writer
        self.k = k

    def run(
        self,
        tenant: str,
        actor: str,
        action: str,
        target: tuple[str, object],
        apply: Action,
        *,
        reason: str = "",
        dry_run: bool = False,
        reverts: int | None = None,
    ) -> Outcome:
        """Apply `apply` for `tenant`; audit it, or with `dry_run` show its effect and undo it."""
        with Session(self.engine, expire_on_commit=False) as session:
            require_tenant(session, tenant)
            changes = ChangeSet()
            result = apply(session, changes)
            recount(session, _patterns_touched(changes))
            session.flush()
            if callable(result):  # a view of the changed rows, taken once counts are current
                result = result()
            before, after = changes.states()
            if dry_run:
                decisions = self._redecide(session, tenant, changes)
                session.rollback()
                return Outcome(True, result, None, before, after, decisions)
            event = audit.record(
                session,
                changes,
                tenant=tenant,
                actor=actor,
                action=action,
                object_type=target[0],
                object_id=target[1],
                reason=reason,
                reverts=reverts,
            )
            if reverts is not None and event is not None:
                audit.get_event(session, tenant, reverts).reverted_by = event.id
            moved = [e.id for e in changes.touched("example") if isinstance(e, Example) and e.id is not None]
            enqueue(session, moved)  # the index payload (pattern, status) follows SQL
            session.commit()
        if moved:
            self.memories.forget(tenant)  # examples moved: statistics are rebuilt from SQL
            self._flush_index()
        else:
            self._refresh_patterns(tenant, changes)
        return Outcome(False, result, event.id if event else None, before, after, [])

    def revert(self, tenant: str, actor: str, event_id: int) -> Outcome:
        """Undo one audit event (itself recorded as an audit event)."""

        def apply(session: Session, changes: ChangeSet) -> Any:
            event = audit.revert_event(session, changes, tenant, event_id, actor)
            return {"reverted": event.id}

        return self.run(
            tenant,
            actor,
            "revert",
            ("audit", event_id),
            apply,
            reason=f"revert of {event_id}",
            reverts=event_id,
        )

    def _refresh_patterns(self, tenant: str, changes: ChangeSet) -> None:
        """Only pattern fields changed: matching sees them at once, without a reload."""
        memory = self.memories.get(tenant)
        for pattern in changes.touched("pattern"):
            assert isinstance(pattern, Pattern) and pattern.id is not None
            state = memory.patterns.get(pattern.id)
            if state is None:
                self.memories.forget(tenant)
                return
            state.status, state.mode = pattern.status, pattern.mode
            state.response_text = pattern.response_text
            state.threshold_override = pattern.threshold_override

    def _flush_index(self) -> None:
        try:
            self.index_writer.flush_outbox()
        except Exception as error:  # the outbox keeps the writes; the worker retries
            log.warning("index update after a governance change deferred: %s", error)

    def _redecide(self, session: Session, tenant: str, changes: ChangeSet) -> list[dict[str, Any]]:
        """Recent decisions whose outcome the pending changes would turn."""
        changed_memory = self.loader.load(session, tenant)
        current_memory = self.memories.get(tenant)
        examples = {e.id: e for e in changes.touched("example") if isinstance(e, Example)}
        recent = session.exec(
            select(Decision)
            .where(Decision.tenant == tenant)
            .order_by(col(Decision.created_at).desc())
            .limit(DRY_RUN_DECISIONS)
        ).all()
        # One row per distinct text, newest first; embedded and searched in one batch each.
        newest: dict[str, Decision] = {}
        for decision in recent:
            newest.setdefault(decision.text, decision)
        decisions = list(newest.values())
        if not decisions:
            return []
        vectors = self.embedder.embed([d.text for d in decisions])
        neighbours = self.store.search_batch(vectors, tenant, self.k + len(examples))
        turned = []
        for decision, vector, hits in zip(decisions, vectors, neighbours, strict=True):
            now = self.matcher.decide(current_memory, vector, hits[: self.k])
            then = self.matcher.decide(changed_memory, vector, _as_changed(hits, examples, self.k))
            if (now.pattern_id, now.decision) != (then.pattern_id, then.decision):
                turned.append(
                    {
                        "decision_id": decision.id,
                        "text": decision.text,
                        "now": _brief(now, current_memory),
                        "after": _brief(then, changed_memory),
                    }
                )
        return turned


def _as_changed(hits: list[Any], examples: dict[int | None, Example], k: int) -> list[Any]:
    """The neighbours as they would be after the change: moved, voided or restored examples."""
    out = []
    for hit in hits:
        example = examples.get(hit.example_id)
        if example is not None:
            hit = hit._replace(pattern_id=example.pattern_id, status=example.status)
        if hit.status in SEARCHABLE:
            out.append(hit)
    return out[:k]


def _brief(result: MatchResult, memory: TenantMemory) -> dict[str, Any]:
    state = memory.patterns.get(result.pattern_id) if result.pattern_id is not None else None
    return {
        "pattern_id": result.pattern_id,
        "reply": state.response_text if state else None,
        "confidence": result.confidence,
        "decision": str(result.decision),
        "reason": result.reason,
    }


def _patterns_touched(changes: ChangeSet) -> set[int]:
    ids = {p.id for p in changes.touched("pattern") if isinstance(p, Pattern) and p.id is not None}
    for key, state in changes.before.items():
        if key[0] == "example" and state is not None:
            ids.add(int(state["pattern_id"]))
    ids |= {e.pattern_id for e in changes.touched("example") if isinstance(e, Example)}
    return ids
