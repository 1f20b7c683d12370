"""What PLS is worth to a business: coverage, precision, time saved, reasons, per day and pattern.

Counted over the live flow's decisions (one per customer turn) and operators' verdicts:
- coverage: share of turns whose confidence supported a suggestion or an auto-reply
  (whatever the mode, so shadow mode shows what PLS *would* cover);
- precision: accepted / judged proposals (edits are reported separately, and as a softer figure);
- time saved: a full operator reply per automatic reply sent and per accepted draft, half one
  per edited draft (`PLS_OPERATOR_SECONDS_PER_REPLY`).

The database does the counting (GROUP BY day, pattern, reason): a month holds tens of thousands
of decisions, and only their per-day and per-pattern sums ever leave it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, Engine, case, cast, func, literal_column
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from app.learning.feedback import ACCEPTED, EDITED, REJECTED
from app.models import Action, Decision, Feedback, Outbound, utcnow
from app.tenants import require_tenant

ANSWERABLE = (Action.suggest, Action.auto)
_ANSWERABLE_VALUES = [action.value for action in ANSWERABLE]


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def _bump(counts: dict[str, int], key: str, by: int) -> None:
    counts[key] = counts.get(key, 0) + by


class _Tally:
    # Plain dicts and slots, not Counters: a month has a tally per pattern, thousands of them.
    __slots__ = ("turns", "answerable", "decisions", "verdicts", "sent")

    def __init__(self) -> None:
        self.turns = 0
        self.answerable = 0
        self.decisions: dict[str, int] = {}
        self.verdicts: dict[str, int] = {}
        self.sent = 0

    def add(self, other: _Tally) -> None:
        """Count another tally's turns, verdicts and sends in this one."""
        self.turns += other.turns
        self.answerable += other.answerable
        for decision, n in other.decisions.items():
            _bump(self.decisions, decision, n)
        for verdict, n in other.verdicts.items():
            _bump(self.verdicts, verdict, n)
        self.sent += other.sent

    def view(self, seconds_per_reply: float) -> dict[str, Any]:
        accepted, edited, rejected = (self.verdicts.get(v, 0) for v in (ACCEPTED, EDITED, REJECTED))
        judged = accepted + edited + rejected
        saved = seconds_per_reply * (self.sent + accepted + 0.5 * edited)
        return {
            "turns": self.turns,
            "coverage": _ratio(self.answerable, self.turns),
            "decisions": dict(self.decisions),
            "accepted": accepted,
            "edited": edited,
            "rejected": rejected,
            "precision": _ratio(accepted, judged),
            "precision_with_edits": _ratio(accepted + edited, judged),
            "auto_replies_sent": self.sent,
            "time_saved_s": round(saved, 1),
        }


def utc_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a stored timestamp, computed by the database."""
    if dialect == "postgresql":
        # Timestamps are timestamptz there: a bare cast to date would take the session's time
        # zone. The zone is a literal, not a bound parameter, so the SELECT and GROUP BY
        # expressions stay textually equal (PostgreSQL requires it).
        return cast(func.timezone(literal_column("'UTC'"), column), Date)
    # SQLite keeps them as UTC ISO text, whose date() is the UTC day.
    return func.date(column)


def _day_key(value: str | date) -> str:
    # PostgreSQL returns a date, SQLite the ISO text already.
    return value if isinstance(value, str) else value.isoformat()


def _count_decisions(
    session: Session,
    key: Any,
    where: list[Any],
    tallies: defaultdict[Any, _Tally],
    to_key: Callable[[Any], Any],
) -> None:
    answerable = func.sum(case((col(Decision.action).in_(_ANSWERABLE_VALUES), 1), else_=0))
    rows = session.exec(
        select(key, Decision.decision, func.count(), answerable)
        .where(*where)
        .group_by(key, col(Decision.decision))
    ).all()
    for group, decision, turns, supported in rows:
        tally = tallies[to_key(group)]
        tally.turns += turns
        tally.answerable += int(supported or 0)
        _bump(tally.decisions, decision, turns)


def _count_verdicts(
    session: Session,
    key: Any,
    where: list[Any],
    tallies: defaultdict[Any, _Tally],
    to_key: Callable[[Any], Any],
) -> None:
    rows = session.exec(
        select(key, Feedback.verdict, func.count()).where(*where).group_by(key, col(Feedback.verdict))
    ).all()
    for group, verdict, count in rows:
        _bump(tallies[to_key(group)].verdicts, verdict, count)


def _count_sends(session: Session, day: Any, where: list[Any], by_day: defaultdict[str, _Tally]) -> None:
    rows = session.exec(select(day, func.count()).where(*where).group_by(day)).all()
    for group, count in rows:
        by_day[_day_key(group)].sent += count


def _reasons(session: Session, where: list[Any]) -> dict[str, int]:
    rows = session.exec(
        select(Decision.reason, func.count()).where(*where).group_by(col(Decision.reason))
    ).all()
    # Most common first; equal counts in a stable order.
    return {reason: n for reason, n in sorted(rows, key=lambda row: (-row[1], row[0]))}


def metrics(engine: Engine, tenant: str, days: int, seconds_per_reply: float) -> dict[str, Any]:
    """The tenant's figures over the last `days` days (UTC days)."""
    since = utcnow() - timedelta(days=days)
    dialect = engine.dialect.name
    turns = [
        Decision.tenant == tenant,
        col(Decision.message_id).is_not(None),
        col(Decision.created_at) >= since,
    ]
    # A verdict on a candidate PLS would not have proposed does not count.
    verdicts = [
        Feedback.tenant == tenant,
        col(Feedback.created_at) >= since,
        col(Feedback.action).in_(_ANSWERABLE_VALUES),
    ]
    sends = [Outbound.tenant == tenant, Outbound.state == "sent", col(Outbound.sent_at) >= since]
    by_day: defaultdict[str, _Tally] = defaultdict(_Tally)
    by_pattern: defaultdict[int, _Tally] = defaultdict(_Tally)
    with Session(engine) as session:
        require_tenant(session, tenant)
        _count_decisions(session, utc_day(Decision.created_at, dialect), turns, by_day, _day_key)
        _count_decisions(
            session,
            col(Decision.pattern_id),
            [*turns, col(Decision.pattern_id).is_not(None)],
            by_pattern,
            int,
        )
        _count_verdicts(session, utc_day(Feedback.created_at, dialect), verdicts, by_day, _day_key)
        _count_verdicts(session, col(Feedback.pattern_id), verdicts, by_pattern, int)
        _count_sends(session, utc_day(Outbound.sent_at, dialect), sends, by_day)
        reasons = _reasons(session, turns)
    total = _Tally()
    for tally in by_day.values():  # every turn, verdict and send falls on exactly one day
        total.add(tally)
    return {
        "tenant": tenant,
        "days": days,
        **total.view(seconds_per_reply),
        "by_reason": reasons,
        "per_day": [{"day": day, **by_day[day].view(seconds_per_reply)} for day in sorted(by_day)],
        "per_pattern": [
            {"pattern_id": pid, **tally.view(seconds_per_reply)}
            # Busiest first; equal counts by pattern id, so the order does not depend on row order.
            for pid, tally in sorted(by_pattern.items(), key=lambda item: (-item[1].turns, item[0]))
        ],
    }
