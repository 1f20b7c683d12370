"""The audit log: every write with who, when, what, before and after; any entry can be reverted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.errors import Conflict, NotFound
from app.governance.rows import KEYED_BY_TENANT, TRACKED, ChangeSet, load, restore, snapshot
from app.governance.versions import EDITABLE, apply_version
from app.models import (
    ApiKey,
    AuditEvent,
    Example,
    ExampleStatus,
    Pattern,
    PatternStatus,
    TemplateValues,
    TenantPolicy,
    utcnow,
)


def record(
    session: Session,
    changes: ChangeSet,
    *,
    tenant: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: object,
    reason: str = "",
    reverts: int | None = None,
) -> AuditEvent | None:
    """Write the audit event for a change set; None when the action changed nothing."""
    before, after = changes.states()
    if not before and not after:
        return None
    event = AuditEvent(
        tenant=tenant,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        reason=reason,
        before=before,
        after=after,
        reverts=reverts,
    )
    session.add(event)
    session.flush()
    return event


def query_events(
    session: Session,
    tenant: str,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """A tenant's audit events, newest first, filtered by object, actor and time."""
    query = select(AuditEvent).where(AuditEvent.tenant == tenant)
    if object_type is not None:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    return list(session.exec(query.order_by(col(AuditEvent.id).desc()).limit(limit)).all())


def get_event(session: Session, tenant: str, event_id: int) -> AuditEvent:
    """One audit event of this tenant."""
    event = session.get(AuditEvent, event_id)
    if event is None or event.tenant != tenant:
        raise NotFound("audit event", event_id)
    return event


def revert_event(session: Session, changes: ChangeSet, tenant: str, event_id: int, actor: str) -> AuditEvent:
    """Put every row the event changed back as it was, if nothing has changed them since."""
    event = get_event(session, tenant, event_id)
    if event.reverted_by is not None:
        raise Conflict(f"audit event {event_id} was already reverted by event {event.reverted_by}")
    for table, rows in event.after.items():
        for key, state in rows.items():
            if state is None:
                if load(session, table, key) is not None:
                    raise Conflict(f"{table} {key} was created again after audit event {event_id}")
                continue
            if snapshot(load(session, table, key)) != state:
                raise Conflict(
                    f"{table} {key} changed after audit event {event_id}: revert the later change first"
                )
    reason = f"revert of audit event {event_id}"
    for table, rows in event.before.items():
        for key, state in rows.items():
            row = load(session, table, key)
            if row is None:  # the event deleted it: bring it back as it was
                row = _recreate(session, changes, table, key)
            if state is None:
                _neutralise(session, changes, row, actor, reason)
            elif isinstance(row, Pattern):
                fields: dict[str, Any] = {name: state[name] for name in EDITABLE}
                apply_version(session, changes, row, fields, author=actor, reason=reason)
                changes.track(row)
                row.merged_into = state.get("merged_into")
            else:
                changes.track(row)
                restore(row, state)
    return event


def _recreate(session: Session, changes: ChangeSet, table: str, key: str) -> Any:
    """A deleted per-tenant row, created again (its fields are restored by the caller)."""
    if table not in KEYED_BY_TENANT:
        raise Conflict(f"{table} {key} no longer exists")
    model, _ = TRACKED[table]
    return changes.tenant_row(session, model, key)


def _neutralise(session: Session, changes: ChangeSet, row: Any, actor: str, reason: str) -> None:
    """Undo the creation of a row without deleting history that may point at it."""
    if isinstance(row, Pattern):
        apply_version(session, changes, row, {"status": PatternStatus.disabled}, author=actor, reason=reason)
    elif isinstance(row, ApiKey):
        changes.track(row)
        row.revoked_at = utcnow()
    elif isinstance(row, Example):
        changes.track(row)
        row.status = ExampleStatus.voided
        row.void_reason = reason
    elif isinstance(row, (TenantPolicy, TemplateValues)):
        changes.deleted_row(session, row)  # back to the defaults


def event_view(event: AuditEvent) -> dict[str, Any]:
    """The public form of an audit event."""
    return {
        "id": event.id,
        "actor": event.actor,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "reason": event.reason,
        "before": event.before,
        "after": event.after,
        "reverts": event.reverts,
        "reverted_by": event.reverted_by,
        "created_at": event.created_at,
    }
