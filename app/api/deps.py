"""Typed dependencies for routes; tests swap `get_services` through dependency_overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from app.services import Services


def get_services(request: Request) -> Services:
    """The process-wide services built in the app's lifespan."""
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]
TenantQuery = Annotated[str, Query(min_length=1, max_length=64, description="Tenant (business) id.")]
