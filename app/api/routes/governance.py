"""Pattern lifecycle: edit, approve, reject, bulk changes, versions, diff and rollback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlmodel import Session

from app.api.access import principal_of
from app.api.deps import ServicesDep, TenantQuery
from app.api.governance_schemas import ApproveIn, BulkIn, PatternEditIn, RejectIn, RollbackIn
from app.errors import InvalidInput
from app.governance.approval import approval_queue
from app.governance.rows import ChangeSet
from app.governance.service import Outcome
from app.governance.versions import (
    apply_version,
    diff_versions,
    get_version,
    list_versions,
    owned_pattern,
    validate_changes,
)
from app.models import PatternStatus
from app.patterns import pattern_view
from app.services import Services
from app.templates import validate_template

router = APIRouter(prefix="/api", tags=["governance"])
PatternId = Annotated[int, Path(ge=1)]


def edit(
    services: Services,
    request: Request,
    tenant: str,
    pattern_id: int,
    changes: dict[str, Any],
    *,
    action: str,
    reason: str,
    expected_version: int | None,
    dry_run: bool,
) -> dict[str, Any]:
    """Apply one versioned change to a pattern (or show what it would do)."""
    changes = validate_changes(dict(changes), validate_template)
    actor = principal_of(request.state).actor

    def apply(session: Session, changeset: ChangeSet) -> Any:
        pattern = owned_pattern(session, tenant, pattern_id)
        apply_version(
            session,
            changeset,
            pattern,
            changes,
            author=actor,
            reason=reason,
            expected_version=expected_version,
        )
        return lambda: pattern_view(pattern)

    outcome: Outcome = services.governance.run(
        tenant, actor, action, ("pattern", pattern_id), apply, reason=reason, dry_run=dry_run
    )
    return {**outcome.as_dict(), "pattern": outcome.result}


@router.patch("/patterns/{pattern_id}")
def edit_pattern(
    body: PatternEditIn, services: ServicesDep, request: Request, pattern_id: PatternId
) -> dict[str, Any]:
    """Change a pattern's reply, alternatives, mode, status or threshold: a new version."""
    return edit(
        services, request, body.tenant, pattern_id, body.changes(), action="edit",
        reason=body.reason, expected_version=body.expected_version, dry_run=body.dry_run,
    )  # fmt: skip


@router.post("/patterns/{pattern_id}/approve")
def approve(
    body: ApproveIn, services: ServicesDep, request: Request, pattern_id: PatternId
) -> dict[str, Any]:
    """Approve a candidate in a chosen mode, optionally with an edited reply, in one call."""
    changes: dict[str, Any] = {"status": PatternStatus.approved, "mode": str(body.mode)}
    if body.response_text is not None:
        changes["response_text"] = body.response_text
    return edit(
        services, request, body.tenant, pattern_id, changes, action="approve",
        reason=body.reason, expected_version=body.expected_version, dry_run=body.dry_run,
    )  # fmt: skip


@router.post("/patterns/{pattern_id}/reject")
def reject(body: RejectIn, services: ServicesDep, request: Request, pattern_id: PatternId) -> dict[str, Any]:
    """Reject a candidate: it is disabled and never answers."""
    return edit(
        services, request, body.tenant, pattern_id, {"status": PatternStatus.disabled}, action="reject",
        reason=body.reason, expected_version=body.expected_version, dry_run=body.dry_run,
    )  # fmt: skip


@router.post("/patterns/bulk")
def bulk(body: BulkIn, services: ServicesDep, request: Request) -> dict[str, Any]:
    """Approve, disable, enable or change the mode of many patterns; one audit event each."""
    if body.action == "mode" and body.mode is None:
        raise InvalidInput("mode", "required when action is 'mode'")
    pattern_ids = list(dict.fromkeys(body.pattern_ids))
    with Session(services.engine) as session:  # all or nothing: every id must be this tenant's
        for pattern_id in pattern_ids:
            owned_pattern(session, body.tenant, pattern_id)
    by_action: dict[str, dict[str, Any]] = {
        "approve": {"status": PatternStatus.approved, **({"mode": str(body.mode)} if body.mode else {})},
        "disable": {"status": PatternStatus.disabled},
        "enable": {"status": PatternStatus.approved},
        "mode": {"mode": str(body.mode)},
    }
    changes = by_action[body.action]
    results = [
        edit(
            services,
            request,
            body.tenant,
            pattern_id,
            changes,
            action=f"bulk-{body.action}",
            reason=body.reason,
            expected_version=None,
            dry_run=body.dry_run,
        )  # fmt: skip
        for pattern_id in pattern_ids
    ]
    return {"dry_run": body.dry_run, "results": results}


@router.get("/patterns/{pattern_id}/versions")
def versions(
    services: ServicesDep, pattern_id: PatternId, tenant: TenantQuery = "default"
) -> list[dict[str, Any]]:
    """Every version of a pattern, the newest first."""
    with Session(services.engine) as session:
        return [
            {
                "version": v.version,
                "state": v.state,
                "author": v.author,
                "reason": v.reason,
                "created_at": v.created_at,
            }
            for v in list_versions(session, tenant, pattern_id)
        ]


@router.get("/patterns/{pattern_id}/diff")
def diff(
    services: ServicesDep,
    pattern_id: PatternId,
    a: Annotated[int, Query(ge=1)],
    b: Annotated[int, Query(ge=1)],
    tenant: TenantQuery = "default",
) -> dict[str, Any]:
    """What changed between versions `a` and `b`."""
    with Session(services.engine) as session:
        return diff_versions(session, tenant, pattern_id, a, b)


@router.post("/patterns/{pattern_id}/rollback")
def rollback(
    body: RollbackIn, services: ServicesDep, request: Request, pattern_id: PatternId
) -> dict[str, Any]:
    """Make an earlier version current again (as a new version, so the rollback can be undone)."""
    with Session(services.engine) as session:
        state = dict(get_version(session, body.tenant, pattern_id, body.version).state)
    reason = body.reason or f"rollback to version {body.version}"
    return edit(
        services, request, body.tenant, pattern_id, state, action="rollback",
        reason=reason, expected_version=body.expected_version, dry_run=body.dry_run,
    )  # fmt: skip


@router.get("/approval-queue")
def queue(
    services: ServicesDep,
    tenant: TenantQuery = "default",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Candidate patterns by value: how much operator time approving each would save."""
    with Session(services.engine) as session:
        return approval_queue(
            session, tenant, seconds_per_reply=services.settings.operator_seconds_per_reply, limit=limit
        )
