"""Snapshots of the rows a governance action touches, so every change has a before and after.

A snapshot holds only the fields people may change; ids, counters and timestamps that PLS
maintains itself are left out, so a revert restores what a person changed and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel

from app.models import ApiKey, Example, Pattern, PatternCandidate, TemplateValues, TenantPolicy
from app.policy import POLICY_FIELDS

T = TypeVar("T", bound=SQLModel)

# table name -> (model, the fields a change may touch)
TRACKED: dict[str, tuple[type[SQLModel], tuple[str, ...]]] = {
    "pattern": (
        Pattern,
        ("response_text", "alternatives", "mode", "status", "threshold_override", "merged_into"),
    ),
    "example": (Example, ("pattern_id", "status", "void_reason")),
    "apikey": (ApiKey, ("name", "role", "revoked_at")),
    "patterncandidate": (PatternCandidate, ("status",)),
    "templatevalues": (TemplateValues, ("entries",)),
    "tenantpolicy": (TenantPolicy, POLICY_FIELDS),
}


# One row per tenant: the primary key is the tenant id.
KEYED_BY_TENANT = ("tenantpolicy", "templatevalues")


def table_of(row: SQLModel) -> str:
    """The tracked table name of a row."""
    for name, (model, _) in TRACKED.items():
        if isinstance(row, model):
            return name
    raise TypeError(f"{type(row).__name__} is not a tracked table")


def key_of(row: SQLModel) -> str:
    """The primary key of a row as a string (JSON object keys are strings)."""
    key = getattr(row, "id", None)
    if key is None:
        key = row.tenant  # type: ignore[attr-defined]
    return str(key)


def snapshot(row: SQLModel | None) -> dict[str, Any] | None:
    """The tracked fields of `row` in JSON-ready form; None for a row that does not exist."""
    if row is None:
        return None
    _, fields = TRACKED[table_of(row)]
    return {name: _plain(getattr(row, name)) for name in fields}


def load(session: Session, table: str, key: str) -> SQLModel | None:
    """The row `key` of a tracked table."""
    model, _ = TRACKED[table]
    return session.get(model, key if table in KEYED_BY_TENANT else int(key))


def restore(row: SQLModel, state: dict[str, Any]) -> None:
    """Write a snapshot's fields back onto a row."""
    for name, value in state.items():
        if name.endswith("_at") and isinstance(value, str):
            value = datetime.fromisoformat(value)
        setattr(row, name, value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


class ChangeSet:
    """The rows one action touched: their state before it (taken once) and after it."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], SQLModel] = {}
        self.before: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.deleted: set[tuple[str, str]] = set()

    def track(self, row: SQLModel) -> SQLModel:
        """Remember a row's state before the first change to it; returns the row."""
        key = (table_of(row), key_of(row))
        if key not in self.before:
            self.before[key] = snapshot(row)
            self.rows[key] = row
        return row

    def created(self, session: Session, row: SQLModel) -> SQLModel:
        """Register a row the action creates (its 'before' is that it did not exist)."""
        session.add(row)
        session.flush()
        key = (table_of(row), key_of(row))
        self.before[key] = None
        self.rows[key] = row
        return row

    def deleted_row(self, session: Session, row: SQLModel) -> None:
        """Delete a row, remembering what it held (its 'after' is that it does not exist)."""
        self.track(row)
        self.deleted.add((table_of(row), key_of(row)))
        session.delete(row)
        session.flush()

    def tenant_row(self, session: Session, model: type[T], tenant: str) -> T:
        """A tenant's one row of `model` (rules, template values), tracked; created if absent."""
        row = session.get(model, tenant)
        if row is None:
            row = model(tenant=tenant)
            self.created(session, row)
        else:
            self.track(row)
        return row

    def touched(self, table: str) -> list[SQLModel]:
        """The rows of one table this action touched."""
        return [row for (name, _), row in self.rows.items() if name == table]

    def states(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(before, after) as {table: {key: fields | None}}, only for rows that really changed."""
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for key, row in self.rows.items():
            old, new = self.before[key], (None if key in self.deleted else snapshot(row))
            if old == new:
                continue
            before.setdefault(key[0], {})[key[1]] = old
            after.setdefault(key[0], {})[key[1]] = new
        return before, after
