"""Phone lines (which tenant a webhook belongs to), business rules, and conversations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status

from app.api.access import principal_of
from app.api.deps import ServicesDep, TenantQuery
from app.api.flow_schemas import LineIn, PolicyIn
from app.flow import admin

router = APIRouter(prefix="/api", tags=["live flow"])


@router.get("/lines")
def lines(services: ServicesDep, tenant: TenantQuery = "default") -> list[dict[str, Any]]:
    """A tenant's phone lines."""
    return admin.list_lines(services.engine, tenant)


@router.post("/lines", status_code=status.HTTP_201_CREATED)
def add_line(body: LineIn, services: ServicesDep) -> dict[str, Any]:
    """Register a line: its webhooks are then filed under the tenant (409 if already registered)."""
    return admin.create_line(
        services.engine, body.tenant, body.external_id, body.number, body.name, body.webhook_secret
    )


@router.get("/policy")
def policy(services: ServicesDep, tenant: TenantQuery = "default") -> dict[str, Any]:
    """A tenant's business rules for automatic replies."""
    return admin.get_policy(services.engine, tenant)


@router.put("/policy")
def set_policy(body: PolicyIn, services: ServicesDep, request: Request) -> dict[str, Any]:
    """Change business rules; a bad value is a 422 naming it, and nothing is stored."""
    values = body.changes()
    outcome = services.governance.run(
        body.tenant,
        principal_of(request.state).actor,
        "policy",
        ("policy", body.tenant),
        lambda session, changes: admin.apply_policy(session, changes, body.tenant, values),
    )
    return {**outcome.result, "audit_id": outcome.audit_id}


@router.get("/conversations")
def conversations(
    services: ServicesDep,
    tenant: TenantQuery = "default",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """The most recent conversations."""
    return admin.list_conversations(services.engine, tenant, limit)


@router.get("/conversations/{conversation_id}")
def conversation(
    services: ServicesDep, conversation_id: Annotated[int, Path(ge=1)], tenant: TenantQuery = "default"
) -> dict[str, Any]:
    """One conversation and its messages."""
    return admin.get_conversation(services.engine, tenant, conversation_id)
