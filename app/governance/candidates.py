"""Acting on discovery's candidates: approve one as a pattern, or dismiss it."""

from __future__ import annotations

from collections import Counter

from sqlmodel import Session, col, select

from app.errors import Conflict, NotFound
from app.governance.curation import move_examples
from app.governance.rows import ChangeSet
from app.governance.versions import apply_version, owned_pattern
from app.models import Example, Pattern, PatternCandidate, PatternStatus


def owned_candidate(session: Session, tenant: str, candidate_id: int) -> PatternCandidate:
    """An open candidate of this tenant."""
    candidate = session.get(PatternCandidate, candidate_id)
    if candidate is None or candidate.tenant != tenant:
        raise NotFound("candidate", candidate_id)
    if candidate.status != "open":
        raise Conflict(f"candidate {candidate_id} is already {candidate.status}")
    return candidate


def approve_candidate(
    session: Session,
    changes: ChangeSet,
    tenant: str,
    candidate_id: int,
    *,
    mode: str,
    response_text: str | None,
    author: str,
    reason: str,
) -> Pattern:
    """Gather the candidate's examples under one pattern and approve it in `mode`.

    The pattern that already holds most of them survives; the others' examples of this
    candidate move to it (only those: discovery may have split a learned pattern).
    """
    candidate = changes.track(owned_candidate(session, tenant, candidate_id))
    assert isinstance(candidate, PatternCandidate)
    examples = session.exec(
        select(Example).where(Example.tenant == tenant, col(Example.id).in_(candidate.example_ids))
    ).all()
    if not examples:
        raise Conflict(f"candidate {candidate_id} has no examples left: run discovery again")
    target_id = Counter(e.pattern_id for e in examples).most_common(1)[0][0]
    strays = [e.id for e in examples if e.pattern_id != target_id and e.id is not None]
    if strays:
        move_examples(session, changes, tenant, strays, target_id)
    target = owned_pattern(session, tenant, target_id)
    fields = {
        "status": PatternStatus.approved,
        "mode": mode,
        "response_text": response_text or candidate.reply,
    }
    apply_version(
        session, changes, target, fields, author=author, reason=reason or f"candidate {candidate_id}"
    )
    candidate.status = "approved"
    return target


def dismiss_candidate(session: Session, changes: ChangeSet, tenant: str, candidate_id: int) -> None:
    """Dismiss a candidate: it leaves the queue; what was learned is untouched."""
    candidate = changes.track(owned_candidate(session, tenant, candidate_id))
    assert isinstance(candidate, PatternCandidate)
    candidate.status = "dismissed"
