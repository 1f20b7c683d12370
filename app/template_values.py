"""Where placeholder values come from, and filling a decision's reply in the live flow."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from app.errors import InvalidInput
from app.governance.rows import ChangeSet
from app.learning.matcher import MatchResult
from app.models import DecisionKind, PhoneLine, TemplateValues, Tenant, utcnow
from app.templates import PLACEHOLDERS, TENANT_VALUES, render
from app.tenants import require_tenant

MAX_VALUE_CHARS = 500


def get_template_values(engine: Engine, tenant: str) -> dict[str, str]:
    """The values a tenant has set (booking link, website, ...)."""
    with Session(engine) as session:
        require_tenant(session, tenant)
        row = session.get(TemplateValues, tenant)
        return dict(row.entries) if row is not None else {}


def check_template_values(entries: dict[str, Any]) -> dict[str, str | None]:
    """The values cleaned (an empty or null value means remove it); InvalidInput names a bad one."""
    clean: dict[str, str | None] = {}
    for name, value in entries.items():
        field = f"values.{name}"
        if name not in TENANT_VALUES:
            known = ", ".join(TENANT_VALUES)
            why = "is filled by PLS itself" if name in PLACEHOLDERS else "is not a placeholder"
            raise InvalidInput(field, f"{why}; a tenant sets: {known}")
        if value is not None and not isinstance(value, str):
            raise InvalidInput(field, "must be a string or null")
        text = (value or "").strip()
        if len(text) > MAX_VALUE_CHARS:
            raise InvalidInput(field, f"is {len(text)} characters long; the limit is {MAX_VALUE_CHARS}")
        if "\x00" in text:
            raise InvalidInput(field, "must not contain NUL characters")
        clean[name] = text or None
    return clean


def apply_template_values(
    session: Session, changes: ChangeSet, tenant: str, clean: dict[str, str | None]
) -> dict[str, str]:
    """Merge checked values into the tenant's (audited by the caller); None removes one."""
    require_tenant(session, tenant)
    row = changes.tenant_row(session, TemplateValues, tenant)
    merged = dict(row.entries)
    for name, value in clean.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    row.entries, row.updated_at = merged, utcnow()  # a new dict, so the JSON column is rewritten
    session.flush()
    return merged


def values_for(session: Session, tenant: str, line_id: int | None) -> dict[str, str]:
    """Every value known for a reply to a customer who texted `line_id`."""
    values: dict[str, str] = {}
    row = session.get(TemplateValues, tenant)
    if row is not None:
        values.update({k: v for k, v in row.entries.items() if k in TENANT_VALUES and isinstance(v, str)})
    owner = session.get(Tenant, tenant)
    if owner is not None and owner.name:
        values["business_name"] = owner.name
    line = session.get(PhoneLine, line_id) if line_id is not None else None
    if line is not None and line.tenant == tenant:
        if line.name:
            values["location"] = line.name
        values["business_phone"] = line.number
    return values


def apply_template(result: MatchResult, values: dict[str, str]) -> MatchResult:
    """The decision with its reply filled in; a reply that cannot be completed goes to a person.

    An automatic reply becomes a draft (the operator fills the gap before sending); the draft
    keeps the placeholders visible so the operator sees what is missing.
    """
    if result.reply is None:
        return result
    rendered = render(result.reply, values)
    if rendered.text is not None:
        return dataclasses.replace(result, reply=rendered.text)
    explanation = {
        **result.explanation,
        "template": {"missing": rendered.missing, "problem": rendered.problem},
    }
    if result.decision != DecisionKind.auto:
        return dataclasses.replace(result, explanation=explanation)
    return dataclasses.replace(
        result,
        decision=DecisionKind.suggest,
        reason=f"reply cannot be completed: {rendered.problem} (draft offered to a person)",
        explanation=explanation,
    )
