"""Candidate patterns found by discovery: the approval queue's "make this a pattern?" list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import ServicesDep, TenantQuery
from app.learning.discovery import discover_and_store, list_candidates

router = APIRouter(prefix="/api/discovery", tags=["discovery"])

Status = Annotated[str | None, Query(pattern="^(open|approved|dismissed)$", description="Filter by status.")]


@router.get("/candidates")
def candidates(
    services: ServicesDep, tenant: TenantQuery = "default", status: Status = "open"
) -> list[dict[str, Any]]:
    """Candidate patterns, largest first: size, sends per day, representative reply, examples."""
    return list_candidates(services, tenant, status)


@router.post("/run")
def run(services: ServicesDep, tenant: TenantQuery = "default") -> list[dict[str, Any]]:
    """Discover candidates again from everything learned, replacing the open ones."""
    discover_and_store(services, tenant)
    return list_candidates(services, tenant)
