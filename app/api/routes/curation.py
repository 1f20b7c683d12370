"""Curating examples and pattern structure: void, gold, move, split, merge (all with dry runs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from sqlmodel import Session

from app.api.access import principal_of
from app.api.deps import ServicesDep
from app.api.governance_schemas import ExamplesIn, MergeIn, MoveIn, SplitIn, Tenanted
from app.governance import curation
from app.governance.rows import ChangeSet
from app.patterns import pattern_view
from app.services import Services
from app.templates import validate_template

router = APIRouter(prefix="/api", tags=["governance"])
PatternId = Annotated[int, Path(ge=1)]


def _run(services: Services, request: Request, tenant: str, action: str, target: tuple[str, object],
         apply: Any, reason: str, dry_run: bool) -> dict[str, Any]:  # fmt: skip
    actor = principal_of(request.state).actor
    outcome = services.governance.run(tenant, actor, action, target, apply, reason=reason, dry_run=dry_run)
    return {**outcome.as_dict(), "result": outcome.result}


@router.post("/examples/void")
def void(body: ExamplesIn, services: ServicesDep, request: Request) -> dict[str, Any]:
    """Take examples out of matching (with a reason); they stay on record."""

    def apply(session: Session, changes: ChangeSet) -> None:
        curation.void_examples(session, changes, body.tenant, body.example_ids, body.reason)

    return _run(
        services,
        request,
        body.tenant,
        "void",
        ("example", body.example_ids[0]),
        apply,
        body.reason,
        body.dry_run,
    )


@router.post("/examples/gold")
def gold(body: ExamplesIn, services: ServicesDep, request: Request) -> dict[str, Any]:
    """Mark examples as gold standard."""

    def apply(session: Session, changes: ChangeSet) -> None:
        curation.mark_gold(session, changes, body.tenant, body.example_ids)

    return _run(
        services,
        request,
        body.tenant,
        "gold",
        ("example", body.example_ids[0]),
        apply,
        body.reason,
        body.dry_run,
    )


@router.post("/conversations/{conversation_id}/gold")
def gold_conversation(
    body: Tenanted, services: ServicesDep, request: Request, conversation_id: Annotated[int, Path(ge=1)]
) -> dict[str, Any]:
    """Mark everything learned from a conversation as gold standard (409 if nothing was yet)."""

    def apply(session: Session, changes: ChangeSet) -> dict[str, Any]:
        ids = curation.conversation_examples(session, body.tenant, conversation_id)
        curation.mark_gold(session, changes, body.tenant, ids)
        return {"example_ids": ids}

    return _run(
        services, request, body.tenant, "gold", ("conversation", conversation_id), apply, body.reason, False
    )


@router.post("/examples/move")
def move(body: MoveIn, services: ServicesDep, request: Request) -> dict[str, Any]:
    """File examples under another pattern."""

    def apply(session: Session, changes: ChangeSet) -> None:
        curation.move_examples(session, changes, body.tenant, body.example_ids, body.pattern_id)

    return _run(
        services, request, body.tenant, "move", ("pattern", body.pattern_id), apply, body.reason, body.dry_run
    )


@router.post("/patterns/{pattern_id}/split")
def split(body: SplitIn, services: ServicesDep, request: Request, pattern_id: PatternId) -> dict[str, Any]:
    """Move some of a pattern's examples into a new candidate pattern."""
    if body.response_text is not None:
        validate_template(body.response_text, "response_text")

    def apply(session: Session, changes: ChangeSet) -> Any:
        new = curation.split_pattern(
            session, changes, body.tenant, pattern_id, body.example_ids, body.response_text
        )
        return lambda: pattern_view(new)

    return _run(
        services, request, body.tenant, "split", ("pattern", pattern_id), apply, body.reason, body.dry_run
    )


@router.post("/patterns/{pattern_id}/merge")
def merge(body: MergeIn, services: ServicesDep, request: Request, pattern_id: PatternId) -> dict[str, Any]:
    """Merge a pattern into another; its replies are kept as the target's alternatives."""
    actor = principal_of(request.state).actor

    def apply(session: Session, changes: ChangeSet) -> Any:
        target = curation.merge_pattern(
            session, changes, body.tenant, pattern_id, body.into, actor, body.reason
        )
        return lambda: pattern_view(target)

    return _run(
        services, request, body.tenant, "merge", ("pattern", pattern_id), apply, body.reason, body.dry_run
    )
