"""How did we answer this before?"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import ServicesDep, TenantQuery
from app.api.schemas import SearchHitOut

router = APIRouter(prefix="/api", tags=["search"])


@router.get("/search", response_model=list[SearchHitOut])
def search(
    services: ServicesDep,
    q: Annotated[str, Query(description="A customer message, or any text.")],
    tenant: TenantQuery = "default",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[SearchHitOut]:
    """The most similar past customer messages with the replies they got."""
    return [SearchHitOut(**hit.__dict__) for hit in services.search.search(tenant, q, limit)]
