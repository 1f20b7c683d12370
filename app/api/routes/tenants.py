"""Tenants: the businesses (or lines of business) whose data never mixes."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import ServicesDep
from app.api.schemas import TenantIn, TenantOut
from app.tenants import create_tenant, list_tenants

router = APIRouter(prefix="/api/tenants", tags=["tenants"])


@router.get("", response_model=list[TenantOut])
def tenants(services: ServicesDep) -> list[TenantOut]:
    """Every tenant."""
    return [TenantOut(id=t.id, name=t.name) for t in list_tenants(services.engine)]


@router.post("", response_model=TenantOut, status_code=status.HTTP_201_CREATED)
def add_tenant(body: TenantIn, services: ServicesDep) -> TenantOut:
    """Create a tenant (409 if the id is taken)."""
    tenant = create_tenant(services.engine, body.id, body.name)
    return TenantOut(id=tenant.id, name=tenant.name)
