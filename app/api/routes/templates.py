"""Response templates: the placeholder list, checking a reply, and a tenant's own values."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.api.access import principal_of
from app.api.deps import ServicesDep, TenantQuery
from app.template_values import apply_template_values, check_template_values, get_template_values
from app.templates import PLACEHOLDERS, TENANT_VALUES, validate_template

router = APIRouter(prefix="/api/templates", tags=["templates"])


class TemplateIn(BaseModel):
    text: str = Field(description="A reply with {placeholders}.")


class ValuesIn(BaseModel):
    values: dict[str, Any] = Field(description="Placeholder name -> value; null or '' removes one.")


@router.get("/placeholders")
def placeholders() -> dict[str, Any]:
    """Every placeholder a reply may use, where its value comes from, and which a tenant sets."""
    return {"placeholders": PLACEHOLDERS, "tenant_values": list(TENANT_VALUES)}


@router.post("/validate")
def validate(body: TemplateIn) -> dict[str, Any]:
    """Check a reply: the placeholders it uses, or 422 naming the one that is not allowed."""
    return {"placeholders": validate_template(body.text, "text")}


@router.get("/values")
def values(services: ServicesDep, tenant: TenantQuery = "default") -> dict[str, str]:
    """The tenant's own placeholder values."""
    return get_template_values(services.engine, tenant)


@router.put("/values")
def put_values(
    body: ValuesIn, services: ServicesDep, request: Request, tenant: TenantQuery = "default"
) -> dict[str, str]:
    """Set (merge) the tenant's placeholder values; 422 names an unknown or bad one. Audited."""
    clean = check_template_values(body.values)
    outcome = services.governance.run(
        tenant,
        principal_of(request.state).actor,
        "template-values",
        ("templatevalues", tenant),
        lambda session, changes: apply_template_values(session, changes, tenant, clean),
    )
    return outcome.result  # type: ignore[no-any-return]
