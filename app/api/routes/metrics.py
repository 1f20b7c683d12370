"""`GET /api/metrics`: coverage, precision, time saved, reasons, per day and per pattern."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import ServicesDep, TenantQuery
from app.flow.metrics import metrics as compute

router = APIRouter(prefix="/api", tags=["metrics"])


@router.get("/metrics")
def metrics(
    services: ServicesDep,
    tenant: TenantQuery = "default",
    days: Annotated[int, Query(ge=1, le=365)] = 7,
    recent_days: Annotated[
        int | None, Query(ge=1, le=365, description="Also per-pattern verdicts over this shorter window.")
    ] = None,
) -> dict[str, Any]:
    """What PLS did and would have done for a tenant over the last `days` days."""
    return compute(services.engine, tenant, days, services.settings.operator_seconds_per_reply, recent_days)
