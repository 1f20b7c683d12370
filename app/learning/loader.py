"""Rebuilding a tenant's in-memory state from SQL (on first use after a start)."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.learning.grouping import PatternGrouper
from app.learning.memory import PatternState, TenantMemory
from app.learning.model import ConfidenceModel
from app.models import Calibration, Example, ExampleStatus, Pattern
from app.models.revisions import revision_of
from app.tenants import require_tenant
from embeddings.base import Embedder

SEARCHABLE = (ExampleStatus.active, ExampleStatus.gold)


def active_examples(session: Session, tenant: str) -> list[Example]:
    """A tenant's examples that take part in matching, oldest first."""
    return list(
        session.exec(
            select(Example)
            .where(Example.tenant == tenant, col(Example.status).in_(SEARCHABLE))
            .order_by(col(Example.id))
        ).all()
    )


def latest_calibration(session: Session, tenant: str) -> Calibration | None:
    """The calibration run currently in force for a tenant."""
    return session.exec(
        select(Calibration)
        .where(Calibration.tenant == tenant, Calibration.active == True)  # noqa: E712
        .order_by(col(Calibration.id).desc())
        .limit(1)
    ).first()


class MemoryLoader:
    """Builds a TenantMemory; vectors come through the embedder's cache, not a re-embed."""

    def __init__(self, engine: Engine, embedder: Embedder) -> None:
        self.engine = engine
        self.embedder = embedder

    def __call__(self, tenant: str) -> TenantMemory:
        with Session(self.engine) as session:
            return self.load(session, tenant)

    def load(self, session: Session, tenant: str) -> TenantMemory:
        """The memory as `session` sees the tables (a dry run passes uncommitted changes)."""
        require_tenant(session, tenant)
        # Read before the rows: a change committed in between is then seen as newer than this
        # memory, and reloaded again, rather than taken as already included.
        revision = revision_of(session, tenant)
        patterns = session.exec(select(Pattern).where(Pattern.tenant == tenant)).all()
        examples = active_examples(session, tenant)
        calibration = latest_calibration(session, tenant)
        memory = TenantMemory(tenant=tenant, grouper=PatternGrouper(dim=self.embedder.dim), revision=revision)
        for pattern in patterns:
            assert pattern.id is not None
            memory.patterns[pattern.id] = PatternState(
                pattern.id,
                pattern.status,
                pattern.mode,
                pattern.response_text,
                alpha=pattern.feedback_alpha,
                beta=pattern.feedback_beta,
                threshold_override=pattern.threshold_override,
            )
        if examples:
            n = len(examples)
            vectors = self.embedder.embed([e.text for e in examples] + [e.reply for e in examples])
            for example, message_vec, reply_vec in zip(examples, vectors[:n], vectors[n:], strict=True):
                memory.grouper.add(
                    example.pattern_id, example.reply, reply_vec, message_vec, message=example.text
                )
                memory.patterns[example.pattern_id].add_example(message_vec, example.quality)
        if calibration is not None:
            memory.model = ConfidenceModel.from_record(calibration)
        return memory
