"""What the operator console reads and says beyond the resource APIs: the inbox, verdicts on
live decisions, a pattern's history, a filtered pattern list and the service-wide switches."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from app.api.deps import ServicesDep, TenantQuery
from app.console.queries import SORTS, find_patterns, inbox, pattern_history, runtime
from app.console.verdicts import VerdictRequest, record_verdict

router = APIRouter(prefix="/api", tags=["console"])

DecisionId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


class VerdictIn(BaseModel):
    tenant: str = Field("default", min_length=1, max_length=64)
    verdict: Literal["accepted", "edited", "rejected"] | None = Field(
        None, description="Omit to have the reply judged against the proposal, as the live flow does."
    )
    reply: str | None = Field(None, max_length=4000, description="The reply sent instead (learned).")


@router.get("/inbox")
def recent_decisions(
    services: ServicesDep,
    tenant: TenantQuery = "default",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: datetime | None = None,
) -> list[dict[str, Any]]:
    """The newest live decisions (what /ws/live streams), with any verdict they got."""
    return inbox(services.engine, tenant, limit, before)


@router.post("/decisions/{decision_id}/verdict")
def verdict(body: VerdictIn, services: ServicesDep, decision_id: DecisionId) -> dict[str, Any]:
    """An operator's verdict on a proposal: accepted, edited (with the reply) or rejected."""
    return record_verdict(services, body.tenant, VerdictRequest(decision_id, body.verdict, body.reply))


@router.get("/patterns/{pattern_id}/history")
def history(
    services: ServicesDep,
    pattern_id: Annotated[int, Path(ge=1)],
    tenant: TenantQuery = "default",
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> dict[str, Any]:
    """Per day: matches, mean confidence, answerable matches and verdicts of one pattern."""
    return pattern_history(services.engine, tenant, pattern_id, days)


@router.get("/pattern-list")
def pattern_list(
    services: ServicesDep,
    tenant: TenantQuery = "default",
    q: Annotated[str, Query(max_length=200, description="Text of the reply, or a pattern id.")] = "",
    status: Annotated[str | None, Query(pattern="^(candidate|approved|disabled)$")] = None,
    mode: Annotated[str | None, Query(pattern="^(shadow|suggest|auto)$")] = None,
    sort: Annotated[str, Query(pattern=f"^({'|'.join(SORTS)})$")] = "examples",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Patterns filtered by reply text, status and mode, one page at a time, with the total."""
    return find_patterns(
        services.engine, tenant, q=q, status=status, mode=mode, sort=sort, limit=limit, offset=offset
    )


@router.get("/runtime")
def runtime_settings(services: ServicesDep, tenant: TenantQuery = "default") -> dict[str, Any]:
    """Service-wide switches set by environment (shadow, sender) and the tenant's thresholds."""
    return runtime(services, tenant)
