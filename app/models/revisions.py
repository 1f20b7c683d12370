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

from sqlalchemy import Engine, bindparam, event, update
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
# One statement, built once: it runs in every commit that changes memory (a learn among them).
_MOVE = (
    update(Tenant)
    .where(col(Tenant.id) == bindparam("tenant"))
    .values(memory_revision=col(Tenant.memory_revision) + 1)
    .returning(col(Tenant.memory_revision))
)
# session.info keys: tenants whose memory the transaction changes, and the revisions it moved.
_CHANGED = "pls.memory_changed"
_PENDING = "pls.memory_revisions"
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


def prune_own(engine: Engine, caught_up: dict[str, int]) -> None:
    """Keep only the own revisions a loaded memory may still need.

    `caught_up` maps each loaded tenant to the revision its memory has reached; a tenant not
    loaded needs none (its memory, once loaded, starts from the committed revision).
    """
    with _OWN_LOCK:
        mine = _own.get(engine, {})
        for tenant in list(mine):
            reached = caught_up.get(tenant)
            kept = {r for r in mine[tenant] if reached is not None and r > reached}
            if kept:
                mine[tenant] = kept
            else:
                del mine[tenant]


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
def _note_changes(session: Session, _context: Any) -> None:
    """Remember which tenants' memory this transaction changes (its flushes may be several)."""
    session.info.setdefault(_CHANGED, set()).update(changed_tenants(session))


@event.listens_for(Session, "before_commit")
def _move_revisions(session: Session) -> None:
    """Move each changed tenant's revision by one, as the transaction's last statements.

    Last, so the tenant row is locked only while the transaction holds every other lock it
    will take: two writers can then wait for each other's tenant row but never deadlock on it.
    """
    if session.new or session.dirty or session.deleted:
        session.flush()  # what commit would flush next may change memory too
    pending: dict[str, int] = session.info.setdefault(_PENDING, {})
    due = sorted(session.info.get(_CHANGED, set()) - set(pending))  # one order for every writer
    if not due:
        return  # most commits: no connection is asked for
    connection = session.connection()
    for tenant in due:
        revision = connection.execute(_MOVE, {"tenant": tenant}).scalar()
        if revision is not None:
            pending[tenant] = int(revision)


@event.listens_for(Session, "after_commit")
def _record_own(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with _OWN_LOCK:
        mine = _own.setdefault(engine, {})
        for tenant, revision in pending.items():
            mine.setdefault(tenant, set()).add(revision)


@event.listens_for(Session, "after_transaction_end")
def _forget_transaction(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction, committed or rolled back
        session.info.pop(_CHANGED, None)
        session.info.pop(_PENDING, None)
