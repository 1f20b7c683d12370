"""Creating and listing tenants."""

from __future__ import annotations

import re

from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.errors import Conflict, InvalidInput, TenantNotFound
from app.models import Tenant

_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def require_tenant(session: Session, tenant: str) -> None:
    """TenantNotFound unless the tenant exists."""
    if session.get(Tenant, tenant) is None:
        raise TenantNotFound(tenant)


def create_tenant(engine: Engine, tenant_id: str, name: str) -> Tenant:
    """A new tenant; Conflict if the id exists."""
    if not _TENANT_ID.match(tenant_id):
        raise InvalidInput("id", "must be 1-64 lowercase letters, digits, '-' or '_'")
    with session_scope(engine) as session:
        if session.get(Tenant, tenant_id) is not None:
            raise Conflict(f"tenant {tenant_id!r} already exists")
        tenant = Tenant(id=tenant_id, name=name)
        session.add(tenant)
    return tenant


def list_tenants(engine: Engine) -> list[Tenant]:
    """All tenants by id."""
    with Session(engine) as session:
        return list(session.exec(select(Tenant).order_by(Tenant.id)).all())
