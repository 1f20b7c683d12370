"""Conversation boundaries, goodbyes, greetings and customer turns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from app.conversations.boundaries import Rhythm, is_closing, is_greeting
from app.conversations.threads import file_message
from app.conversations.turns import customer_turn, turn_answered_by
from app.db import session_scope
from app.models import Message, PhoneLine

RHYTHM = Rhythm(gap_min_s=1800, gap_max_s=86400, factor=8)
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def line(engine: Engine) -> int:
    with session_scope(engine) as session:
        row = PhoneLine(tenant="default", external_id="PN1", number="+15550001000")
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def file_at(engine: Engine, line_id: int, minutes: float, text: str = "hi", author: str = "customer") -> int:
    with session_scope(engine) as session:
        conv = file_message(
            session,
            tenant="default",
            line_id=line_id,
            customer="+15557654321",
            at=T0 + timedelta(minutes=minutes),
            text=text,
            author=author,
            rhythm=RHYTHM,
        )
        assert conv.id is not None
        return conv.id


def test_closing_words_are_recognised() -> None:
    assert is_closing("thanks, bye!") and is_closing("Perfect thank you") and is_closing("👍")
    assert not is_closing("thanks, but what about the refund for bedford?")
    assert not is_closing("what is the door code")


def test_greetings_are_recognised() -> None:
    assert is_greeting("hi") and is_greeting("Hello there!") and is_greeting("good morning")
    assert not is_greeting("hi my simulator froze")


def test_fast_thread_ends_after_a_silence_long_for_its_own_rhythm(engine: Engine) -> None:
    line_id = line(engine)
    first = [file_at(engine, line_id, m) for m in (0, 1, 2, 3)]  # a gap of a minute is its rhythm
    assert len(set(first)) == 1
    # 40 minutes: over the 30-minute floor and 8x its usual gap -> a new conversation.
    assert file_at(engine, line_id, 43) != first[0]


def test_slow_thread_survives_the_same_silence(engine: Engine) -> None:
    line_id = line(engine)
    ids = [file_at(engine, line_id, m) for m in (0, 20, 40, 60)]  # 20-minute rhythm
    assert len(set(ids)) == 1
    assert file_at(engine, line_id, 100) == ids[0]  # 40 min is only 2x its usual gap


def test_goodbye_closes_the_thread_sooner(engine: Engine) -> None:
    line_id = line(engine)
    first = file_at(engine, line_id, 0, "what time do you open")
    file_at(engine, line_id, 1, "thanks, bye!")
    assert file_at(engine, line_id, 2, "oh and one more thing") == first  # a quick follow-up
    file_at(engine, line_id, 3, "thanks bye")
    assert file_at(engine, line_id, 20, "new question about parking") != first


def test_late_delivery_joins_the_thread_it_was_sent_in(engine: Engine) -> None:
    line_id = line(engine)
    conv = file_at(engine, line_id, 10)
    file_at(engine, line_id, 11)
    assert file_at(engine, line_id, 9) == conv  # arrived late, sent just before


def _msgs(specs: list[tuple[str, int]]) -> list[Message]:
    return [
        Message(
            id=i + 1,
            tenant="default",
            direction=d,
            text=f"m{i}",
            text_hash="x",
            sent_at=T0 + timedelta(seconds=s),
        )
        for i, (d, s) in enumerate(specs)
    ]


def test_burst_is_one_turn_and_earlier_messages_are_context() -> None:
    messages = _msgs(
        [("incoming", 0), ("outgoing", 10), ("incoming", 600), ("incoming", 630), ("incoming", 660)]
    )
    turn, superseded, answered = customer_turn(messages, 5, burst_s=90)
    assert turn.message_ids == [3, 4, 5] and turn.context == ["m0", "m1"]
    assert not superseded and not answered
    assert customer_turn(messages, 4, burst_s=90)[1]  # a later message of the burst carries it


def test_reply_is_paired_with_the_turn_before_it_and_not_with_a_follow_up() -> None:
    messages = _msgs([("incoming", 0), ("incoming", 30), ("outgoing", 40), ("outgoing", 50)])
    turn = turn_answered_by(messages, 3, burst_s=90)
    assert turn is not None and turn.message_ids == [1, 2]
    assert turn_answered_by(messages, 4, burst_s=90) is None
    assert turn_answered_by(_msgs([("outgoing", 0)]), 1, burst_s=90) is None


def test_rhythm_without_history_uses_the_middle_of_the_bounds(engine: Engine) -> None:
    line_id = line(engine)
    conv_id = file_at(engine, line_id, 0)
    with Session(engine) as session:
        from app.models import Conversation

        conv = session.get(Conversation, conv_id)
        assert conv is not None
        assert 1800 < RHYTHM.limit(conv) < 86400
