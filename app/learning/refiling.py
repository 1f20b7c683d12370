"""Filing a tenant's differently worded examples again after a bulk import, in SQL.

Which examples: active ones whose reply no other active example of the tenant shares (a
reply sent again and again already says which examples go together), filed under patterns
still waiting for approval (an approved or disabled pattern is the operators' decision and
stays as it is). They are regrouped among as many patterns as they were spread over
(`regrouping.regroup`); each group keeps the pattern that held most of it, so patterns keep
their ids where they can, and a group left without one gets a new candidate pattern.

A pattern's reply is one of its own examples' replies: when every example of a pattern is
regrouped and the one whose reply it showed went elsewhere, it takes its oldest example's.
Patterns left empty are disabled. The whole regrouping is one governance action: audited, and
undone in one step like any other (`POST /api/audit/{id}/revert`), which is why nothing is
deleted and every reply change is a new pattern version. It runs again only once something
was learned since the last regrouping: cut again into as many groups as there now are
patterns, the same votes would only split further.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from app.governance.rows import ChangeSet
from app.governance.versions import apply_version
from app.learning.facts import facts_conflict, key_facts, reply_key
from app.learning.loader import SEARCHABLE
from app.learning.regrouping import regroup
from app.models import AuditEvent, Example, Pattern, PatternStatus
from app.patterns import recount

if TYPE_CHECKING:
    from app.services import Services

log = logging.getLogger(__name__)

ACTOR = "pls"
ACTION = "regroup"
REASON = "differently worded examples regrouped by their words after an import"


@dataclass
class Refiled:
    """What a regrouping changed."""

    examples: int = 0  # examples regrouped
    patterns_before: int = 0
    patterns_after: int = 0
    moved: dict[int, list[int]] = field(default_factory=dict)  # {new pattern: example ids}
    audit_id: int | None = None  # the audit event that undoes it
    up_to_date_since: int | None = None  # nothing learned since this regrouping (audit id)

    def totals(self) -> dict[str, int | None]:
        """The numbers, for summaries and logs."""
        return {
            "examples": self.examples,
            "patterns_before": self.patterns_before,
            "patterns_after": self.patterns_after,
            "moved": sum(len(ids) for ids in self.moved.values()),
            "audit_id": self.audit_id,
            "up_to_date_since": self.up_to_date_since,
        }


@dataclass
class Plan:
    """Groups worked out for a tenant's differently worded examples, not applied yet."""

    example_ids: list[int]  # the examples regrouped, in the order `groups` indexes them
    groups: list[list[int]]  # indices into `example_ids`
    result: Refiled  # what there is to report when there is nothing to apply


def regroup_after_import(services: Services, tenant: str) -> Refiled:
    """Regroup the tenant's differently worded examples as an audited governance action.

    The groups are worked out first, without holding anything: the vote takes seconds to
    minutes, and live learning goes on meanwhile. They are applied to the planned examples
    that are still differently worded then, as the applying transaction reads them (one that
    an operator has since sent the same reply to again has a pattern by that reply, and stays
    there), under the tenant's learning lock, so nothing this process learns is filed while
    examples move and emptied patterns are disabled. Another process learning at that moment
    (a service beside `pls import`) is not held up; what it commits before the counts are taken
    keeps its pattern enabled.
    """
    settings = services.settings
    with Session(services.engine) as session:
        plan = plan_regrouping(session, tenant, settings.regroup_min_examples, settings.regroup_max_examples)
    if not plan.groups:
        return plan.result
    refiled = plan.result

    def apply(session: Session, changes: ChangeSet) -> dict[str, int | None]:
        nonlocal refiled
        refiled = apply_plan(session, changes, tenant, plan)
        return refiled.totals()

    memory = services.memories.get(tenant)
    with memory.lock:
        outcome = services.governance.run(tenant, ACTOR, ACTION, ("tenant", tenant), apply, reason=REASON)
    refiled.audit_id = outcome.audit_id
    if refiled.moved:
        log.info("tenant %s: differently worded examples regrouped %s", tenant, refiled.totals())
    return refiled


def plan_regrouping(session: Session, tenant: str, min_examples: int, max_examples: int) -> Plan:
    """The groups for the tenant's differently worded examples (see the module); none when there
    are fewer than `min_examples` or more than `max_examples` of them, or nothing new to do."""
    ids, newest = _worded_apart(session, tenant)
    nothing = Plan(ids, [], Refiled(examples=len(ids)))
    if not min_examples <= len(ids) <= max_examples:
        return nothing
    last = _last_regrouping(session, tenant)
    if last is not None and (newest is None or newest <= last.created_at):
        # Nothing learned since: cut again, the votes would only split what they split before.
        nothing.result.up_to_date_since = last.id
        return nothing
    rows = session.exec(
        select(Example.id, Example.pattern_id, Example.text, Example.reply)
        .where(col(Example.id).in_(ids))
        .order_by(col(Example.id))
    ).all()
    before = len({row[1] for row in rows})
    result = Refiled(examples=len(rows), patterns_before=before, patterns_after=before)
    if before < 2:
        return Plan(ids, [], result)
    groups = regroup([row[2] for row in rows], [row[3] for row in rows], before)
    return Plan([row[0] for row in rows], groups, result)  # type: ignore[misc]


def apply_plan(session: Session, changes: ChangeSet, tenant: str, plan: Plan) -> Refiled:
    """File the planned groups' examples that are still differently worded (see the module)."""
    still, _ = _worded_apart(session, tenant)
    current = set(still)
    planned = [
        [plan.example_ids[i] for i in group if plan.example_ids[i] in current] for group in plan.groups
    ]
    ids = sorted(i for group in planned for i in group)
    loaded = {e.id: e for e in session.exec(select(Example).where(col(Example.id).in_(ids))).all()}
    groups = [[loaded[i] for i in group] for group in planned if group]
    before = {e.pattern_id for e in loaded.values()}
    result = Refiled(examples=len(loaded), patterns_before=len(before), patterns_after=len(before))
    patterns = {p.id: p for p in session.exec(select(Pattern).where(col(Pattern.id).in_(list(before)))).all()}
    staying = _facts_staying(session, tenant, before, set(ids))  # type: ignore[arg-type]
    owners = choose_owners(groups, staying)
    for members, owner in zip(groups, owners, strict=True):
        if owner is None:
            pattern = _new_pattern(session, changes, tenant, members[0])
            owner = pattern.id
            patterns[owner] = pattern
        for example in members:
            if example.pattern_id != owner:
                changes.track(example)
                example.pattern_id = owner  # type: ignore[assignment]
                result.moved.setdefault(owner, []).append(example.id)  # type: ignore[arg-type]
    session.flush()
    _settle_patterns(session, changes, tenant, patterns.values())
    result.patterns_after = len({e.pattern_id for e in loaded.values()})
    return result


def _worded_apart(session: Session, tenant: str) -> tuple[list[int], datetime | None]:
    """Ids of the active examples in candidate patterns whose reply no other active example
    shares, and when the newest of them was learned. Plain rows: a large tenant's examples are
    counted before any is loaded whole."""
    rows = session.exec(
        select(Example.id, Example.pattern_id, Example.reply, Example.created_at).where(
            Example.tenant == tenant, col(Example.status).in_(SEARCHABLE)
        )
    ).all()
    keys = [reply_key(row[2]) for row in rows]
    sent = Counter(keys)
    candidates = set(
        session.exec(
            select(Pattern.id).where(Pattern.tenant == tenant, Pattern.status == PatternStatus.candidate)
        ).all()
    )
    chosen = [
        (example_id, created_at)
        for (example_id, pattern_id, _, created_at), key in zip(rows, keys, strict=True)
        if example_id is not None and pattern_id in candidates and sent[key] == 1
    ]
    return [example_id for example_id, _ in chosen], max((at for _, at in chosen), default=None)


def _last_regrouping(session: Session, tenant: str) -> AuditEvent | None:
    """The tenant's latest regrouping, reverted or not (a revert is an operator's choice that
    the next import should not silently undo)."""
    return session.exec(
        select(AuditEvent)
        .where(AuditEvent.tenant == tenant, AuditEvent.action == ACTION)
        .order_by(col(AuditEvent.id).desc())
        .limit(1)
    ).first()


def _facts_staying(
    session: Session, tenant: str, pattern_ids: set[int], moving: set[int]
) -> dict[int, set[str]]:
    """Key facts of the examples that stay in these patterns whatever the regrouping does."""
    facts: dict[int, set[str]] = {}
    for pattern_id, text, reply in session.exec(
        select(Example.pattern_id, Example.text, Example.reply).where(
            Example.tenant == tenant,
            col(Example.pattern_id).in_(list(pattern_ids)),
            col(Example.id).not_in(list(moving)),
        )
    ).all():
        facts.setdefault(pattern_id, set()).update(key_facts(reply, text))
    return facts


def choose_owners(groups: Sequence[Sequence[Example]], staying: dict[int, set[str]]) -> list[int | None]:
    """The pattern each group keeps: the one holding most of it, each pattern once, the
    largest overlaps first, never one whose staying examples state facts the group's replies
    contradict; None where a group gets a new pattern."""
    group_facts = [set().union(*(key_facts(e.reply, e.text) for e in group)) for group in groups]
    overlaps = sorted(
        (
            (count, -g, pattern_id)
            for g, group in enumerate(groups)
            for pattern_id, count in Counter(e.pattern_id for e in group).items()
        ),
        reverse=True,
    )
    owners: list[int | None] = [None] * len(groups)
    taken: set[int] = set()
    for _, negative_g, pattern_id in overlaps:
        g = -negative_g
        if owners[g] is not None or pattern_id in taken:
            continue
        if facts_conflict(group_facts[g], staying.get(pattern_id, set())):
            continue
        owners[g] = pattern_id
        taken.add(pattern_id)
    return owners


def _new_pattern(session: Session, changes: ChangeSet, tenant: str, first: Example) -> Pattern:
    pattern = Pattern(
        tenant=tenant,
        response_text=first.reply,
        reply_key=reply_key(first.reply),
        key_facts=sorted(key_facts(first.reply, first.text)),
    )
    changes.created(session, pattern)
    return pattern


def _settle_patterns(session: Session, changes: ChangeSet, tenant: str, patterns: Iterable[Pattern]) -> None:
    """Counts and replies of the patterns a regrouping touched follow their examples now."""
    patterns = list(patterns)
    recount(session, {p.id for p in patterns if p.id is not None})
    # Replies only, oldest first: the examples themselves are not needed to pick one.
    replies: dict[int, list[str]] = {}
    for pattern_id, reply in session.exec(
        select(Example.pattern_id, Example.reply)
        .where(
            Example.tenant == tenant,
            col(Example.pattern_id).in_([p.id for p in patterns]),
            col(Example.status).in_(SEARCHABLE),
        )
        .order_by(col(Example.id))
    ).all():
        replies.setdefault(pattern_id, []).append(reply)
    for pattern in patterns:
        mine = replies.get(pattern.id, [])  # type: ignore[arg-type]
        change: dict[str, str]
        if pattern.example_count == 0:
            change = {"status": PatternStatus.disabled}
        elif mine and reply_key(pattern.response_text) not in {reply_key(reply) for reply in mine}:
            change = {"response_text": mine[0]}
        else:
            continue
        apply_version(session, changes, pattern, change, author=ACTOR, reason=REASON)
