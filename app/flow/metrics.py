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


def _bump(counts: dict[Any, int], key: Any, by: int) -> None:
    counts[key] = counts.get(key, 0) + by


class _Tallies:
    """Turns, verdicts and sends per key (a day, a pattern), held column by column.

    A month has a tally per pattern, thousands of them: an object each made every request
    pay for a full garbage-collector pass, while dicts of plain counts are not even tracked.
    """

    __slots__ = ("turns", "answerable", "decisions", "verdicts", "sent")

    def __init__(self) -> None:
        self.turns: dict[Any, int] = {}
        self.answerable: dict[Any, int] = {}
        self.decisions: dict[Any, dict[str, int]] = {}
        self.verdicts: dict[Any, dict[str, int]] = {}
        self.sent: dict[Any, int] = {}

    def count_turns(self, key: Any, decision: str, turns: int, answerable: int) -> None:
        """Count `turns` decisions of one kind under `key`, `answerable` of them proposable."""
        _bump(self.turns, key, turns)
        _bump(self.answerable, key, answerable)
        _bump(self.decisions.setdefault(key, {}), decision, turns)

    def count_verdicts(self, key: Any, verdict: str, count: int) -> None:
        """Count `count` verdicts of one kind under `key`."""
        _bump(self.verdicts.setdefault(key, {}), verdict, count)

    def count_sends(self, key: Any, count: int) -> None:
        """Count `count` automatic replies sent under `key`."""
        _bump(self.sent, key, count)

    def keys(self) -> list[Any]:
        """Every key anything was counted under."""
        return list(dict.fromkeys([*self.turns, *self.verdicts, *self.sent]))

    def total(self) -> _Tallies:
        """All keys' counts under the one key None."""
        out = _Tallies()
        for key, turns in self.turns.items():
            _bump(out.turns, None, turns)
            _bump(out.answerable, None, self.answerable[key])
        for column, into in ((self.decisions, out.decisions), (self.verdicts, out.verdicts)):
            for counts in column.values():
                for kind, n in counts.items():
                    _bump(into.setdefault(None, {}), kind, n)
        for sent in self.sent.values():
            _bump(out.sent, None, sent)
        return out

    def view(self, key: Any, seconds_per_reply: float, head: dict[str, Any]) -> dict[str, Any]:
        """The figures of one key, after the fields in `head`."""
        verdicts = self.verdicts.get(key, {})
        accepted, edited, rejected = (verdicts.get(v, 0) for v in (ACCEPTED, EDITED, REJECTED))
        judged = accepted + edited + rejected
        turns, sent = self.turns.get(key, 0), self.sent.get(key, 0)
        saved = seconds_per_reply * (sent + accepted + 0.5 * edited)
        return {
            **head,
            "turns": turns,
            "coverage": _ratio(self.answerable.get(key, 0), turns),
            "decisions": dict(self.decisions.get(key, {})),
            "accepted": accepted,
            "edited": edited,
            "rejected": rejected,
            "precision": _ratio(accepted, judged),
            "precision_with_edits": _ratio(accepted + edited, judged),
            "auto_replies_sent": sent,
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
    tallies: _Tallies,
    to_key: Callable[[Any], Any],
) -> None:
    answerable = func.sum(case((col(Decision.action).in_(_ANSWERABLE_VALUES), 1), else_=0))
    rows = session.exec(
        select(key, Decision.decision, func.count(), answerable)
        .where(*where)
        .group_by(key, col(Decision.decision))
    ).all()
    for group, decision, turns, supported in rows:
        tallies.count_turns(to_key(group), decision, turns, int(supported or 0))


def _count_verdicts(
    session: Session,
    key: Any,
    where: list[Any],
    tallies: _Tallies,
    to_key: Callable[[Any], Any],
) -> None:
    rows = session.exec(
        select(key, Feedback.verdict, func.count()).where(*where).group_by(key, col(Feedback.verdict))
    ).all()
    for group, verdict, count in rows:
        tallies.count_verdicts(to_key(group), verdict, count)


def _count_sends(session: Session, day: Any, where: list[Any], by_day: _Tallies) -> None:
    rows = session.exec(select(day, func.count()).where(*where).group_by(day)).all()
    for group, count in rows:
        by_day.count_sends(_day_key(group), count)


def _reasons(session: Session, where: list[Any]) -> dict[str, int]:
    rows = session.exec(
        select(Decision.reason, func.count()).where(*where).group_by(col(Decision.reason))
    ).all()
    # Most common first; equal counts in a stable order.
    return {reason: n for reason, n in sorted(rows, key=lambda row: (-row[1], row[0]))}


def metrics(
    engine: Engine, tenant: str, days: int, seconds_per_reply: float, recent_days: int | None = None
) -> dict[str, Any]:
    """The tenant's figures over the last `days` days (UTC days).

    With `recent_days`, also each pattern's verdicts over that shorter window
    (`per_pattern_recent`), so a pattern losing accuracy shows in the same call.
    """
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
    by_day, by_pattern = _Tallies(), _Tallies()
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
        recent = _Tallies()
        if recent_days is not None:
            window = [
                *verdicts[:1],
                col(Feedback.created_at) >= utcnow() - timedelta(days=recent_days),
                *verdicts[2:],
            ]
            _count_verdicts(session, col(Feedback.pattern_id), window, recent, int)
    # Every turn, verdict and send falls on exactly one day.
    total = by_day.total()
    return {
        **total.view(None, seconds_per_reply, {"tenant": tenant, "days": days}),
        "by_reason": reasons,
        "per_day": [by_day.view(day, seconds_per_reply, {"day": day}) for day in sorted(by_day.keys())],
        "per_pattern": [
            by_pattern.view(pid, seconds_per_reply, {"pattern_id": pid})
            # Busiest first; equal counts by pattern id, so the order does not depend on row order.
            for pid in sorted(by_pattern.keys(), key=lambda pid: (-by_pattern.turns.get(pid, 0), pid))
        ],
        **(
            {
                "per_pattern_recent": [
                    recent.view(pid, seconds_per_reply, {"pattern_id": pid}) for pid in sorted(recent.keys())
                ]
            }
            if recent_days is not None
            else {}
        ),
    }
