"""Each tenant's memory revision: how a running service learns that another process changed it.

A service keeps each tenant's patterns, statistics and confidence model in memory
(`app/learning/memory.py`) and updates them in step with its own writes. A `pls import`,
`pls calibrate` or `pls patterns import` run beside it (against the same database and Qdrant
server), or a second replica, writes to SQL behind its back. So every transaction that changes
a pattern, an example or a calibration moves the tenant's `memory_revision` by one, in the
same transaction, and the new revision is recorded as this process's own once it has
committed. `app/learning/memory_watch.py` compares the two.

The changes are found in the session's unit of work, so no writer has to remember to call
anything; importing `app.models` installs the hooks. Statements that bypass the unit of work
(the decision log's match counts) do not change memory.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, event, update
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session, col, select

from app.models.core import Calibration, Example, Pattern, Tenant

# The columns whose change alters what matching keeps in memory. New and deleted rows of
# these tables always do.
RELEVANT_COLUMNS: dict[type, frozenset[str]] = {
    Pattern: frozenset(
        {
            "status",
            "mode",
            "response_text",
            "feedback_alpha",
            "feedback_beta",
            "threshold_override",
            "merged_into",
        }
    ),
    Example: frozenset({"status", "pattern_id", "quality", "text", "reply", "tenant"}),
    Calibration: frozenset({"active"}),
}
_PENDING = "pls.memory_revisions"  # session.info: {tenant: revision} moved by this transaction
_OWN_LOCK = threading.Lock()
# Per engine (one per process outside tests): tenant -> revisions committed by this process.
_own: weakref.WeakKeyDictionary[Engine, dict[str, set[int]]] = weakref.WeakKeyDictionary()


def changed_tenants(session: Session) -> set[str]:
    """Tenants whose memory the session's pending changes alter."""
    tenants: set[str] = set()
    for obj in (*session.new, *session.deleted):
        if type(obj) in RELEVANT_COLUMNS:
            tenants.add(obj.tenant)
    for obj in session.dirty:
        columns = RELEVANT_COLUMNS.get(type(obj))
        if columns is None:
            continue
        state = sa_inspect(obj)
        if any(state.attrs[name].history.has_changes() for name in columns):
            tenants.add(obj.tenant)
    return tenants


def own_revisions(engine: Engine, tenant: str) -> set[int]:
    """Revisions of `tenant` that this process committed through `engine` (a copy)."""
    with _OWN_LOCK:
        return set(_own.get(engine, {}).get(tenant, ()))


def forget_own(engine: Engine, tenant: str, up_to: int) -> None:
    """Drop the record of own revisions a memory has already caught up with."""
    with _OWN_LOCK:
        mine = _own.get(engine, {}).get(tenant)
        if mine:
            mine.difference_update([r for r in mine if r <= up_to])


def current_revisions(engine: Engine, tenants: Iterable[str]) -> dict[str, int]:
    """The committed revision of each tenant."""
    wanted = list(tenants)
    if not wanted:
        return {}
    with Session(engine) as session:
        rows = session.exec(select(Tenant.id, Tenant.memory_revision).where(col(Tenant.id).in_(wanted)))
        return {tenant: int(revision) for tenant, revision in rows}


def revision_of(session: Session, tenant: str) -> int:
    """The tenant's revision as `session` sees it (0 for a tenant not stored)."""
    found = session.exec(select(Tenant.memory_revision).where(Tenant.id == tenant)).first()
    return int(found) if found is not None else 0


@event.listens_for(Session, "after_flush")
def _move_revisions(session: Session, _context: Any) -> None:
    """Move the revision once per transaction for every tenant whose memory the flush changed."""
    pending: dict[str, int] = session.info.setdefault(_PENDING, {})
    for tenant in changed_tenants(session) - set(pending):
        connection = session.connection()
        connection.execute(
            update(Tenant)
            .where(col(Tenant.id) == tenant)
            .values(memory_revision=col(Tenant.memory_revision) + 1)
        )
        revision = connection.execute(select(Tenant.memory_revision).where(col(Tenant.id) == tenant)).scalar()
        if revision is not None:
            pending[tenant] = int(revision)


@event.listens_for(Session, "after_commit")
def _record_own(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    engine = session.get_bind()
    if not isinstance(engine, Engine):
        engine = getattr(engine, "engine", engine)
    with _OWN_LOCK:
        mine = _own.setdefault(engine, {})
        for tenant, revision in pending.items():
            mine.setdefault(tenant, set()).add(revision)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, _previous: Any) -> None:
    # Also after a savepoint's rollback, which may have undone a move: the commit then records
    # fewer revisions as its own, and the watcher reloads rather than miss a change.
    session.info.pop(_PENDING, None)
