"""Admin: the audit log and its revert, API keys, and pattern export/import."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, status
from sqlmodel import Session

from app import auth
from app.api.access import principal_of
from app.api.deps import ServicesDep, TenantQuery
from app.api.governance_schemas import KeyIn
from app.governance import audit, transfer
from app.governance.rows import ChangeSet

router = APIRouter(prefix="/api", tags=["admin"])


@router.get("/audit")
def audit_log(
    services: ServicesDep,
    tenant: TenantQuery = "default",
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Audit events, newest first, by object, actor and time."""
    with Session(services.engine) as session:
        events = audit.query_events(
            session, tenant, object_type=object_type, object_id=object_id, actor=actor,
            since=since, until=until, limit=limit,
        )  # fmt: skip
        return [audit.event_view(e) for e in events]


@router.post("/audit/{event_id}/revert")
def revert(
    services: ServicesDep,
    request: Request,
    event_id: Annotated[int, Path(ge=1)],
    tenant: TenantQuery = "default",
) -> dict[str, Any]:
    """Undo one audit event (409 if what it changed has changed again since)."""
    outcome = services.governance.revert(tenant, principal_of(request.state).actor, event_id)
    return {**outcome.as_dict(), "result": outcome.result}


@router.get("/keys")
def keys(services: ServicesDep, tenant: TenantQuery = "default") -> list[dict[str, Any]]:
    """The tenant's API keys (names, roles, prefixes: never secrets)."""
    with Session(services.engine) as session:
        return [_key_view(k) for k in auth.list_keys(session, tenant)]


@router.post("/keys", status_code=status.HTTP_201_CREATED)
def create_key(body: KeyIn, services: ServicesDep, request: Request) -> dict[str, Any]:
    """A new key for this tenant; the secret is shown once, in this response."""
    secret: dict[str, str] = {}

    def apply(session: Session, changes: ChangeSet) -> dict[str, Any]:
        row, secret["key"] = auth.create_key(session, body.tenant, body.role, body.name)
        changes.created(session, row)
        return _key_view(row)

    outcome = services.governance.run(
        body.tenant, principal_of(request.state).actor, "create-key", ("apikey", body.name), apply
    )
    return {**outcome.result, "key": secret["key"], "audit_id": outcome.audit_id}


@router.delete("/keys/{key_id}")
def revoke_key(
    services: ServicesDep,
    request: Request,
    key_id: Annotated[int, Path(ge=1)],
    tenant: TenantQuery = "default",
) -> dict[str, Any]:
    """Revoke a key: it is refused from now on."""
    from app.models import utcnow

    def apply(session: Session, changes: ChangeSet) -> dict[str, Any]:
        row = changes.track(auth.find_key(session, key_id, tenant))
        row.revoked_at = row.revoked_at or utcnow()  # type: ignore[attr-defined]
        return _key_view(row)  # type: ignore[arg-type]

    outcome = services.governance.run(
        tenant, principal_of(request.state).actor, "revoke-key", ("apikey", key_id), apply
    )
    return {**outcome.result, "audit_id": outcome.audit_id}


@router.get("/patterns/export")
def export(services: ServicesDep, tenant: TenantQuery = "default") -> dict[str, Any]:
    """The tenant's patterns and examples as a versioned JSON document."""
    with Session(services.engine) as session:
        return transfer.export_patterns(session, tenant)


@router.post("/patterns/import")
def import_(
    services: ServicesDep,
    request: Request,
    document: Annotated[dict[str, Any], Body()],
    tenant: TenantQuery = "default",
    dry_run: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Bring patterns in; a dry run (the default) shows what would be added, changed or left."""
    actor = principal_of(request.state).actor

    def apply(session: Session, changes: ChangeSet) -> dict[str, Any]:
        return transfer.import_patterns(session, changes, tenant, document, author=actor, overwrite=overwrite)

    outcome = services.governance.run(tenant, actor, "import", ("tenant", tenant), apply, dry_run=dry_run)
    if not dry_run and outcome.result["examples_added"]:
        services.calibration.fit(tenant)
    return {"dry_run": dry_run, "audit_id": outcome.audit_id, "report": outcome.result,
            "decisions_changed": outcome.decisions}  # fmt: skip


def _key_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "role": row.role, "prefix": row.prefix,
        "created_at": row.created_at, "revoked_at": row.revoked_at,
    }  # fmt: skip
