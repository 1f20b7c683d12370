"""Candidate patterns found by discovery: the approval queue's "make this a pattern?" list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlmodel import Session

from app.api.access import principal_of
from app.api.deps import ServicesDep, TenantQuery
from app.api.governance_schemas import ApproveIn, RejectIn
from app.governance.candidates import approve_candidate, dismiss_candidate
from app.governance.rows import ChangeSet
from app.learning.discovery import discover_and_store, list_candidates
from app.patterns import pattern_view
from app.templates import validate_template

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


CandidateId = Annotated[int, Path(ge=1)]


@router.post("/candidates/{candidate_id}/approve")
def approve(
    body: ApproveIn, services: ServicesDep, request: Request, candidate_id: CandidateId
) -> dict[str, Any]:
    """Make a candidate a pattern: its examples gathered under one pattern, approved in `mode`."""
    if body.response_text is not None:
        validate_template(body.response_text, "response_text")
    actor = principal_of(request.state).actor

    def apply(session: Session, changes: ChangeSet) -> Any:
        pattern = approve_candidate(
            session, changes, body.tenant, candidate_id, mode=str(body.mode),
            response_text=body.response_text, author=actor, reason=body.reason,
        )  # fmt: skip
        return lambda: pattern_view(pattern)

    outcome = services.governance.run(
        body.tenant, actor, "approve-candidate", ("candidate", candidate_id), apply,
        reason=body.reason, dry_run=body.dry_run,
    )  # fmt: skip
    return {**outcome.as_dict(), "pattern": outcome.result}


@router.post("/candidates/{candidate_id}/dismiss")
def dismiss(
    body: RejectIn, services: ServicesDep, request: Request, candidate_id: CandidateId
) -> dict[str, Any]:
    """Dismiss a candidate: it leaves the queue, nothing learned changes."""
    actor = principal_of(request.state).actor

    def apply(session: Session, changes: ChangeSet) -> None:
        dismiss_candidate(session, changes, body.tenant, candidate_id)

    outcome = services.governance.run(
        body.tenant, actor, "dismiss-candidate", ("candidate", candidate_id), apply, reason=body.reason
    )
    return outcome.as_dict()
