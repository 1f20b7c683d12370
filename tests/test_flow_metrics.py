"""Business metrics counted by the database: UTC days, per-pattern order, what counts, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, make_url
from sqlmodel import Session

from app.db import session_scope
from app.flow.metrics import metrics
from app.models import Conversation, Decision, Feedback, Message, Outbound, Pattern, PhoneLine, Tenant, utcnow

SECONDS = 100.0


def _midnight(days_ago: int) -> datetime:
    return datetime.combine(utcnow().date() - timedelta(days=days_ago), time(), tzinfo=UTC)


def _zone_away_from_utc(engine: Engine) -> None:
    # A day must be the UTC day whatever the database session's time zone is.
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        name = make_url(str(engine.url)).database
        conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET timezone TO 'Pacific/Kiritimati'")
        conn.commit()
    engine.dispose()  # new connections take the setting


class _Tenant:
    """Writes one tenant's turns, verdicts and sends."""

    def __init__(self, session: Session) -> None:
        self.session = session
        if session.get(Tenant, "default") is None:  # migrations create it
            session.add(Tenant(id="default", name="Default"))
        session.add(Tenant(id="other", name="Other"))
        line = PhoneLine(tenant="default", external_id="PN1", number="+15550000000")
        session.add(line)
        session.flush()
        now = utcnow()
        self.conversation = Conversation(tenant="default", line_id=line.id or 0, customer_number="+15551111111",
                                         started_at=now, last_message_at=now)  # fmt: skip
        session.add(self.conversation)
        self.patterns = [
            Pattern(tenant="default", response_text=f"reply {i}", reply_key=f"r{i}") for i in range(4)
        ]
        session.add_all(self.patterns)
        session.flush()
        self.count = 0

    def turn(self, at: datetime, pattern: int | None, action: str, tenant: str = "default",
             verdict: str | None = None, sent: bool = False) -> None:  # fmt: skip
        self.count += 1
        message = Message(tenant=tenant, direction="incoming", text="hi", text_hash=f"h{self.count}",
                          author="customer", state="decided")  # fmt: skip
        self.session.add(message)
        self.session.flush()
        decision_id = f"{self.count:032x}"
        pattern_id = None if pattern is None else self.patterns[pattern].id
        self.session.add(Decision(id=decision_id, tenant=tenant, message_id=message.id, text="hi",
                                  pattern_id=pattern_id, confidence=0.5, action=action, decision="shadow",
                                  reason=f"because {action}", created_at=at))  # fmt: skip
        if verdict is not None:
            self.session.add(Feedback(tenant=tenant, pattern_id=pattern_id or 0, decision_id=decision_id,
                                      verdict=verdict, action=action, created_at=at))  # fmt: skip
        if sent:
            self.session.add(Outbound(tenant=tenant, decision_id=decision_id, message_id=message.id or 0,
                                      conversation_id=self.conversation.id or 0,
                                      line_id=self.conversation.line_id, to_number="+15551111111", text="ok",
                                      sender="dry-run", state="sent", sent_at=at))  # fmt: skip

    def verdict_only(self, at: datetime, pattern: int, verdict: str, action: str = "suggest") -> None:
        self.session.add(Feedback(tenant="default", pattern_id=self.patterns[pattern].id or 0,
                                  decision_id="x", verdict=verdict, action=action, created_at=at))  # fmt: skip


def _by_day(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["day"]: row for row in body["per_day"]}


def test_metrics_count_utc_days_patterns_and_reasons_on_both_databases(engine: Engine) -> None:
    _zone_away_from_utc(engine)
    late, early = _midnight(2) - timedelta(seconds=1), _midnight(2) + timedelta(seconds=1)
    with session_scope(engine) as session:
        data = _Tenant(session)
        ids = [p.id for p in data.patterns]
        data.turn(late, 1, "auto", verdict="accepted", sent=True)
        data.turn(early, 1, "suggest", verdict="edited")
        data.turn(early, 0, "abstain", verdict="rejected")  # a verdict PLS would not have proposed
        data.turn(early, 0, "suggest")
        data.turn(early, None, "abstain")
        data.verdict_only(early, 3, "rejected")  # a pattern judged in the window but not matched in it
        data.turn(_midnight(40), 2, "auto", verdict="accepted", sent=True)  # outside the window
        data.turn(early, 2, "auto", tenant="other")
    body = metrics(engine, "default", 7, SECONDS)
    assert body["turns"] == 5 and body["coverage"] == 0.6
    assert body["decisions"] == {"shadow": 5}
    assert (body["accepted"], body["edited"], body["rejected"]) == (1, 1, 1)
    assert body["precision"] == round(1 / 3, 4) and body["precision_with_edits"] == round(2 / 3, 4)
    assert body["auto_replies_sent"] == 1 and body["time_saved_s"] == SECONDS * 2.5
    assert body["by_reason"] == {"because abstain": 2, "because suggest": 2, "because auto": 1}
    days = _by_day(body)
    late_day, early_day = late.date().isoformat(), early.date().isoformat()
    assert list(days) == [late_day, early_day]
    assert days[late_day]["turns"] == 1 and days[late_day]["auto_replies_sent"] == 1
    assert days[late_day]["accepted"] == 1 and days[late_day]["time_saved_s"] == SECONDS * 2
    assert days[early_day]["turns"] == 4 and days[early_day]["coverage"] == 0.5
    assert (days[early_day]["edited"], days[early_day]["rejected"]) == (1, 1)
    # Busiest first, equal counts by id; a pattern only judged in the window still shows.
    assert [(p["pattern_id"], p["turns"]) for p in body["per_pattern"]] == [
        (ids[0], 2),
        (ids[1], 2),
        (ids[3], 0),
    ]
    first, second, judged = body["per_pattern"]
    assert first["coverage"] == 0.5 and first["rejected"] == 0
    assert second["coverage"] == 1.0 and second["precision"] == 0.5 and second["auto_replies_sent"] == 0
    assert judged["rejected"] == 1 and judged["coverage"] is None


def test_metrics_of_a_tenant_without_turns_are_empty(engine: Engine) -> None:
    with session_scope(engine) as session:
        _Tenant(session)
    body = metrics(engine, "default", 30, SECONDS)
    assert body["turns"] == 0 and body["coverage"] is None and body["precision"] is None
    assert body["by_reason"] == {} and body["per_day"] == [] and body["per_pattern"] == []


def test_metrics_show_each_patterns_recent_verdicts_in_the_same_call(engine: Engine) -> None:
    with session_scope(engine) as session:
        data = _Tenant(session)
        ids = [p.id for p in data.patterns]
        data.turn(_midnight(20), 1, "suggest", verdict="accepted")
        data.turn(_midnight(20), 1, "suggest", verdict="accepted")
        data.turn(_midnight(1), 1, "suggest", verdict="rejected")
        data.turn(_midnight(1), 2, "abstain", verdict="rejected")  # not proposed: does not count
    body = metrics(engine, "default", 30, SECONDS, recent_days=7)
    assert [p["pattern_id"] for p in body["per_pattern_recent"]] == [ids[1]]
    recent = body["per_pattern_recent"][0]
    assert (recent["accepted"], recent["rejected"], recent["precision"]) == (0, 1, 0.0)
    whole = next(p for p in body["per_pattern"] if p["pattern_id"] == ids[1])
    assert whole["precision"] == round(2 / 3, 4)
    assert "per_pattern_recent" not in metrics(engine, "default", 30, SECONDS)
