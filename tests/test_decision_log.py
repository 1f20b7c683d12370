"""Decisions are recorded off the hot path, in batches, and never lost on a failed write."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.learning.decision_log import DecisionLog
from app.models import Decision, Pattern


def decision_fields(pattern_id: int | None, action: str = "suggest") -> dict:
    return {
        "tenant": "default",
        "text": "hi",
        "pattern_id": pattern_id,
        "confidence": 0.9,
        "action": action,
        "decision": "shadow",
        "reason": "test",
        "explanation": {"neighbours": []},
    }


def test_ids_are_issued_at_once_and_rows_written_on_flush(engine: Engine) -> None:
    with session_scope(engine) as session:
        pattern = Pattern(tenant="default", response_text="Hello", reply_key="k")
        session.add(pattern)
    log = DecisionLog(engine, interval_s=60)
    ids = [log.record(**decision_fields(pattern.id)) for _ in range(3)]
    log.record(**decision_fields(pattern.id, action="abstain"))
    assert len(set(ids)) == 3
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdef") for i in ids)
    assert log.flush() == 4
    with Session(engine) as session:
        assert {d.id for d in session.exec(select(Decision))} >= set(ids)
        stored = session.get(Pattern, pattern.id)
        assert stored is not None and stored.match_count == 3 and stored.last_matched_at is not None
    log.close()


def test_one_flush_counts_matches_for_each_pattern_apart(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = Pattern(tenant="default", response_text="Hello", reply_key="a")
        second = Pattern(tenant="default", response_text="Bye", reply_key="b")
        idle = Pattern(tenant="default", response_text="Later", reply_key="c")
        session.add_all([first, second, idle])
    log = DecisionLog(engine, interval_s=60)
    for pattern in (first, second, first, first, second):
        log.record(**decision_fields(pattern.id))
    log.record(**decision_fields(idle.id, action="abstain"))
    assert log.flush() == 6
    with Session(engine) as session:
        counts = {p.id: (p.match_count, p.last_matched_at is not None) for p in session.exec(select(Pattern))}
    assert counts == {first.id: (3, True), second.id: (2, True), idle.id: (0, False)}
    log.close()


def test_a_failed_write_keeps_the_rows_for_the_next_flush(engine: Engine) -> None:
    log = DecisionLog(engine, interval_s=60)
    log.record(**decision_fields(987654))  # a pattern that does not exist: the write fails
    assert log.flush() == 0
    with Session(engine) as session:
        assert session.exec(select(Decision)).all() == []
    log._rows[0]["pattern_id"] = None  # the cause goes away
    assert log.flush() == 1
    log.close()
