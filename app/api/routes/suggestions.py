"""Smart suggestions: patterns to disable, merge, or de-duplicate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import ServicesDep, TenantQuery
from app.suggestions import SuggestionRules, suggest

router = APIRouter(prefix="/api", tags=["suggestions"])

Kind = Annotated[str | None, Query(pattern="^(disable|merge|duplicate)$", description="Only this kind.")]


@router.get("/suggestions")
def suggestions(
    services: ServicesDep, tenant: TenantQuery = "default", kind: Kind = None
) -> list[dict[str, Any]]:
    """What to change: kind, pattern ids, a reason, and the numbers behind it."""
    settings = services.settings
    rules = SuggestionRules(
        stale_days=settings.suggest_stale_days,
        merge_similarity=settings.suggest_merge_similarity,
        duplicate_similarity=settings.suggest_duplicate_similarity,
    )
    found = suggest(services.engine, services.embedder, tenant, rules)
    return [s.as_dict() for s in found if kind is None or s.kind == kind]
