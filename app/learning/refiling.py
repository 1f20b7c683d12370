"""Filing a tenant's differently worded examples again after a bulk import, in SQL.

Which examples: active ones whose reply no other active example of the tenant shares (a
reply sent again and again already says which examples go together), filed under patterns
still waiting for approval (an approved or disabled pattern is the operators' decision and
stays as it is). They are regrouped among as many patterns as they were spread over
(`regrouping.regroup`); each group keeps the pattern that held most of it, so patterns keep
their ids where they can, and a group left without one gets a new candidate pattern.

A pattern's reply is one of its own examples' replies: when every example of a pattern is
regrouped and the one whose reply it showed went elsewhere, it takes its oldest example's.
Patterns left empty are deleted, or disabled when decisions refer to them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from app.learning.facts import key_facts, reply_key
from app.learning.loader import SEARCHABLE
from app.learning.regrouping import regroup
from app.models import Decision, Example, Pattern, PatternStatus, utcnow
from app.patterns import recount


@dataclass
class Refiled:
    """What a regrouping changed."""

    examples: int = 0  # examples regrouped
    patterns_before: int = 0
    patterns_after: int = 0
    moved: dict[int, list[int]] = field(default_factory=dict)  # {new pattern: example ids}

    def totals(self) -> dict[str, int]:
        """The numbers, for summaries and logs."""
        return {
            "examples": self.examples,
            "patterns_before": self.patterns_before,
            "patterns_after": self.patterns_after,
            "moved": sum(len(ids) for ids in self.moved.values()),
        }


def refile_worded_apart(session: Session, tenant: str, min_examples: int, max_examples: int) -> Refiled:
    """Regroup the tenant's differently worded examples (see the module); nothing when there are
    fewer than `min_examples` or more than `max_examples` of them."""
    ids = _worded_apart(session, tenant)
    if not min_examples <= len(ids) <= max_examples:
        return Refiled(examples=len(ids))
    examples = session.exec(select(Example).where(col(Example.id).in_(ids)).order_by(col(Example.id))).all()
    before = {e.pattern_id for e in examples}
    result = Refiled(examples=len(examples), patterns_before=len(before), patterns_after=len(before))
    if len(before) < 2:
        return result
    groups = regroup([e.text for e in examples], [e.reply for e in examples], len(before))
    patterns = {p.id: p for p in session.exec(select(Pattern).where(col(Pattern.id).in_(list(before)))).all()}
    owners = _owners([[examples[i] for i in group] for group in groups])
    for group, owner in zip(groups, owners, strict=True):
        members = [examples[i] for i in group]
        if owner is None:
            pattern = _new_pattern(session, tenant, members[0])
            owner = pattern.id
            patterns[owner] = pattern
        for example in members:
            if example.pattern_id != owner:
                example.pattern_id = owner  # type: ignore[assignment]
                result.moved.setdefault(owner, []).append(example.id)  # type: ignore[arg-type]
    session.flush()
    _settle_patterns(session, tenant, patterns.values())
    result.patterns_after = len({e.pattern_id for e in examples})
    return result


def _worded_apart(session: Session, tenant: str) -> list[int]:
    """Ids of the active examples in candidate patterns whose reply no other active example
    shares. Plain rows: a large tenant's examples are counted before any is loaded whole."""
    rows = session.exec(
        select(Example.id, Example.pattern_id, Example.reply).where(
            Example.tenant == tenant, col(Example.status).in_(SEARCHABLE)
        )
    ).all()
    keys = [reply_key(reply) for _, _, reply in rows]
    sent = Counter(keys)
    candidates = set(
        session.exec(
            select(Pattern.id).where(Pattern.tenant == tenant, Pattern.status == PatternStatus.candidate)
        ).all()
    )
    return [
        example_id
        for (example_id, pattern_id, _), key in zip(rows, keys, strict=True)
        if example_id is not None and pattern_id in candidates and sent[key] == 1
    ]


def _owners(groups: Sequence[Sequence[Example]]) -> list[int | None]:
    """The pattern each group keeps: the one holding most of it, each pattern once, the
    largest overlaps first; None where a group gets a new pattern."""
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
        if owners[g] is None and pattern_id not in taken:
            owners[g] = pattern_id
            taken.add(pattern_id)
    return owners


def _new_pattern(session: Session, tenant: str, first: Example) -> Pattern:
    pattern = Pattern(
        tenant=tenant,
        response_text=first.reply,
        reply_key=reply_key(first.reply),
        key_facts=sorted(key_facts(first.reply, first.text)),
    )
    session.add(pattern)
    session.flush()
    return pattern


def _settle_patterns(session: Session, tenant: str, patterns: Iterable[Pattern]) -> None:
    """Counts and replies of the patterns a regrouping touched follow their examples now."""
    patterns = list(patterns)
    recount(session, {p.id for p in patterns if p.id is not None})
    searchable: dict[int, list[Example]] = {}
    for example in session.exec(
        select(Example)
        .where(
            Example.tenant == tenant,
            col(Example.pattern_id).in_([p.id for p in patterns]),
            col(Example.status).in_(SEARCHABLE),
        )
        .order_by(col(Example.id))
    ).all():
        searchable.setdefault(example.pattern_id, []).append(example)
    now = utcnow()
    for pattern in patterns:
        mine = searchable.get(pattern.id, [])  # type: ignore[arg-type]
        pattern.updated_at = now
        if mine and pattern.reply_key not in {reply_key(e.reply) for e in mine}:
            first = mine[0]
            pattern.response_text = first.reply
            pattern.reply_key = reply_key(first.reply)
            pattern.key_facts = sorted(key_facts(first.reply, first.text))
    retire(session, [p for p in patterns if p.example_count == 0])


def retire(session: Session, patterns: Sequence[Pattern]) -> None:
    """Patterns whose examples all went elsewhere: deleted, or disabled when decisions refer
    to them (their history still names them)."""
    if not patterns:
        return
    referenced = set(
        session.exec(
            select(Decision.pattern_id).where(col(Decision.pattern_id).in_([p.id for p in patterns]))
        ).all()
    )
    for pattern in patterns:
        if pattern.id in referenced:
            pattern.status = PatternStatus.disabled
            pattern.example_count = 0
        else:
            session.delete(pattern)
