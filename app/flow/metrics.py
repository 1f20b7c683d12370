"""What PLS is worth to a business: coverage, precision, time saved, reasons, per day and pattern.

Counted over the live flow's decisions (one per customer turn) and operators' verdicts:
- coverage: share of turns whose confidence supported a suggestion or an auto-reply
  (whatever the mode, so shadow mode shows what PLS *would* cover);
- precision: accepted / judged proposals (edits are reported separately, and as a softer figure);
- time saved: a full operator reply per automatic reply sent and per accepted draft, half one
  per edited draft (`PLS_OPERATOR_SECONDS_PER_REPLY`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.conversations.threads import aware
from app.learning.feedback import ACCEPTED, EDITED, REJECTED
from app.models import Action, Decision, Feedback, Outbound, utcnow
from app.tenants import require_tenant

ANSWERABLE = (Action.suggest, Action.auto)


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


class _Tally:
    def __init__(self) -> None:
        self.turns = 0
        self.answerable = 0
        self.decisions: Counter[str] = Counter()
        self.verdicts: Counter[str] = Counter()
        self.sent = 0

    def view(self, seconds_per_reply: float) -> dict[str, Any]:
        judged = sum(self.verdicts[v] for v in (ACCEPTED, EDITED, REJECTED))
        saved = seconds_per_reply * (self.sent + self.verdicts[ACCEPTED] + 0.5 * self.verdicts[EDITED])
        return {
            "turns": self.turns,
            "coverage": _ratio(self.answerable, self.turns),
            "decisions": dict(self.decisions),
            "accepted": self.verdicts[ACCEPTED],
            "edited": self.verdicts[EDITED],
            "rejected": self.verdicts[REJECTED],
            "precision": _ratio(self.verdicts[ACCEPTED], judged),
            "precision_with_edits": _ratio(self.verdicts[ACCEPTED] + self.verdicts[EDITED], judged),
            "auto_replies_sent": self.sent,
            "time_saved_s": round(saved, 1),
        }


def _day(value: datetime) -> str:
    return aware(value).date().isoformat()


def metrics(engine: Engine, tenant: str, days: int, seconds_per_reply: float) -> dict[str, Any]:
    """The tenant's figures over the last `days` days (UTC days)."""
    since = utcnow() - timedelta(days=days)
    with Session(engine) as session:
        require_tenant(session, tenant)
        decisions = session.exec(
            select(Decision).where(
                Decision.tenant == tenant,
                col(Decision.message_id).is_not(None),
                col(Decision.created_at) >= since,
            )
        ).all()
        verdicts = session.exec(
            select(Feedback).where(Feedback.tenant == tenant, col(Feedback.created_at) >= since)
        ).all()
        sends = session.exec(
            select(Outbound).where(
                Outbound.tenant == tenant, Outbound.state == "sent", col(Outbound.sent_at) >= since
            )
        ).all()
    total = _Tally()
    by_day: defaultdict[str, _Tally] = defaultdict(_Tally)
    by_pattern: defaultdict[int, _Tally] = defaultdict(_Tally)
    reasons: Counter[str] = Counter()
    for d in decisions:
        tallies = [total, by_day[_day(d.created_at)]] + (
            [by_pattern[d.pattern_id]] if d.pattern_id is not None else []
        )
        for tally in tallies:
            tally.turns += 1
            tally.answerable += int(d.action in ANSWERABLE)
            tally.decisions[d.decision] += 1
        reasons[d.reason] += 1
    for f in verdicts:
        if f.action not in ANSWERABLE:  # a verdict on a candidate PLS would not have proposed
            continue
        for tally in (total, by_day[_day(f.created_at)], by_pattern[f.pattern_id]):
            tally.verdicts[f.verdict] += 1
    for out in sends:
        total.sent += 1
        if out.sent_at is not None:
            by_day[_day(out.sent_at)].sent += 1
    return {
        "tenant": tenant,
        "days": days,
        **total.view(seconds_per_reply),
        "by_reason": dict(reasons.most_common()),
        "per_day": [{"day": day, **by_day[day].view(seconds_per_reply)} for day in sorted(by_day)],
        "per_pattern": [
            {"pattern_id": pid, **tally.view(seconds_per_reply)}
            for pid, tally in sorted(by_pattern.items(), key=lambda item: -item[1].turns)
        ],
    }
