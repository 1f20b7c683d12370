"""API keys: one tenant and one role each, stored as a hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.errors import InvalidInput, NotFound, PLSError
from app.models import ApiKey
from app.tenants import require_tenant

KEY_PREFIX = "pls_"


class Role(StrEnum):
    viewer = "viewer"
    operator = "operator"
    admin = "admin"


RANK = {Role.viewer: 0, Role.operator: 1, Role.admin: 2}


class Unauthorized(PLSError):
    """No key, an unknown key, or a revoked one."""


class Forbidden(PLSError):
    """A valid key whose role does not allow the action."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's tenant and role."""

    tenant: str
    role: Role
    key_id: int
    name: str

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"key:{self.key_id}:{self.name}"

    def require(self, role: Role) -> None:
        """Refuse unless this caller's role is at least `role`."""
        if RANK[self.role] < RANK[role]:
            raise Forbidden(f"this needs the {role.value} role; the key is {self.role.value}")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, tenant: str, role: str, name: str) -> tuple[ApiKey, str]:
    """A new key; the plain key is returned once and never stored."""
    require_tenant(session, tenant)
    if role not in set(Role):
        raise InvalidInput("role", f"must be one of {', '.join(Role)}")
    if not name.strip():
        raise InvalidInput("name", "give the key a name (who or what uses it)")
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(tenant=tenant, name=name.strip(), role=role, prefix=prefix, secret_hash=_hash(key))
    session.add(row)
    session.flush()
    return row, key


def find_key(session: Session, key_id: int, tenant: str | None = None) -> ApiKey:
    """A key by id (within a tenant when given)."""
    row = session.get(ApiKey, key_id)
    if row is None or (tenant is not None and row.tenant != tenant):
        raise NotFound("api key", key_id)
    return row


def list_keys(session: Session, tenant: str | None = None) -> list[ApiKey]:
    """Keys, optionally of one tenant (never their secrets: only hashes are kept)."""
    query = select(ApiKey).order_by(col(ApiKey.id))
    if tenant is not None:
        query = query.where(ApiKey.tenant == tenant)
    return list(session.exec(query).all())


def authenticate(engine: Engine, key: str | None) -> Principal:
    """The principal a presented key stands for, or Unauthorized."""
    if not key or not key.startswith(KEY_PREFIX) or key.count("_") < 2:
        raise Unauthorized("missing or malformed API key (Authorization: Bearer pls_...)")
    prefix = key[len(KEY_PREFIX) :].split("_", 1)[0]
    with Session(engine) as session:
        row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
        # Compare hashes in constant time; an unknown prefix still costs one comparison.
        expected = row.secret_hash if row is not None else _hash("")
        if not hmac.compare_digest(expected, _hash(key)) or row is None:
            raise Unauthorized("unknown API key")
        if row.revoked_at is not None:
            raise Unauthorized("this API key was revoked")
        assert row.id is not None
        return Principal(row.tenant, Role(row.role), row.id, row.name)
