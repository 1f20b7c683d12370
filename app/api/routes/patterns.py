"""Read the learned patterns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.api.deps import ServicesDep, TenantQuery
from app.api.schemas import ExampleOut, PatternDetailOut, PatternOut
from app.models import PatternStatus
from app.patterns import get_pattern, list_patterns

router = APIRouter(prefix="/api/patterns", tags=["patterns"])


@router.get("", response_model=list[PatternOut])
def patterns(
    services: ServicesDep,
    tenant: TenantQuery = "default",
    status: PatternStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[PatternOut]:
    """Patterns of a tenant, the most used first."""
    rows = list_patterns(services.engine, tenant, status=status, limit=limit, offset=offset)
    return [PatternOut(**row) for row in rows]


@router.get("/{pattern_id}", response_model=PatternDetailOut)
def pattern(
    services: ServicesDep,
    pattern_id: Annotated[int, Path(ge=1)],
    tenant: TenantQuery = "default",
    examples: Annotated[int, Query(ge=0, le=500)] = 50,
) -> PatternDetailOut:
    """One pattern with its most recent examples."""
    row, rows = get_pattern(services.engine, tenant, pattern_id, examples)
    return PatternDetailOut(**row, examples=[ExampleOut(**example) for example in rows])
