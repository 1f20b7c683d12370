"""The caller's tenant. Tenants are created by an operator of the service (`pls tenants create`):
an API key belongs to one tenant and can never see or make another."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import Session

from app.api.deps import ServicesDep, TenantQuery
from app.api.schemas import TenantOut
from app.models import Tenant
from app.tenants import require_tenant

router = APIRouter(prefix="/api/tenants", tags=["tenants"])


@router.get("", response_model=list[TenantOut])
def tenants(services: ServicesDep, tenant: TenantQuery = "default") -> list[TenantOut]:
    """The tenant the API key belongs to."""
    with Session(services.engine) as session:
        require_tenant(session, tenant)
        row = session.get(Tenant, tenant)
        assert row is not None
        return [TenantOut(id=row.id, name=row.name)]
