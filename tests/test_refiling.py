"""After an import, differently worded examples are filed again by their words, in SQL, in the
index and in memory; what operators decided stays as it is."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.learning.facts import reply_key
from app.learning.learner import Interaction
from app.models import Decision, Example, Pattern, PatternStatus
from app.patterns import recount
from app.services import Services, build_services
from tests.conftest import FakeEmbedder
from tests.test_word_grouping import pairs

TENANT = "default"


@pytest.fixture
def services(settings: Settings, engine: Engine, fake_embedder: FakeEmbedder) -> Iterator[Services]:
    built = build_services(settings, embedder=fake_embedder, engine=engine)
    yield built
    built.close()


def learn_pairs(services: Services, engine: Engine, n_each: int = 40) -> dict[str, str]:
    """Learn the three asks' pairs, filed under one pattern per person they name (what grouping
    by sentence vectors does to such pairs); returns the ask of each message."""
    messages, replies, asks = pairs(n_each)
    services.learner.learn_many(TENANT, [Interaction(m, r) for m, r in zip(messages, replies, strict=True)])
    with Session(engine) as session:
        by_person: dict[str, Pattern] = {}
        filed: dict[int, list[int]] = {}
        for example in session.exec(select(Example).where(Example.tenant == TENANT)).all():
            person = example.text.rsplit(" from ", 1)[1]
            if person not in by_person:
                by_person[person] = Pattern(
                    tenant=TENANT, response_text=example.reply, reply_key=reply_key(example.reply)
                )
                session.add(by_person[person])
                session.flush()
            example.pattern_id = by_person[person].id  # type: ignore[assignment]
            filed.setdefault(example.pattern_id, []).append(example.id)  # type: ignore[arg-type]
        session.flush()
        for pattern in session.exec(select(Pattern).where(Pattern.tenant == TENANT)).all():
            if pattern.id not in filed:
                session.delete(pattern)
        recount(session, set(filed))
        session.commit()
    for pattern_id, example_ids in filed.items():
        services.store.set_payload(example_ids, pattern_id=pattern_id)
    services.memories.forget(TENANT)
    return dict(zip(messages, asks, strict=True))


def examples(engine: Engine) -> list[Example]:
    with Session(engine) as session:
        return list(session.exec(select(Example).where(Example.tenant == TENANT)).all())


def patterns(engine: Engine) -> dict[int, Pattern]:
    with Session(engine) as session:
        return {p.id: p for p in session.exec(select(Pattern).where(Pattern.tenant == TENANT)).all()}  # type: ignore[misc]


def asks_per_pattern(engine: Engine, ask_of: dict[str, str]) -> dict[int, Counter[str]]:
    out: dict[int, Counter[str]] = {}
    for example in examples(engine):
        out.setdefault(example.pattern_id, Counter())[ask_of[example.text]] += 1
    return out


def test_mixed_patterns_are_filed_again_by_what_they_ask(services: Services, engine: Engine) -> None:
    ask_of = learn_pairs(services, engine)
    assert any(len(asks) > 1 for asks in asks_per_pattern(engine, ask_of).values())

    refiled = services.learner.regroup(TENANT, min_examples=10, max_examples=1000)

    assert refiled.examples == 120 and refiled.moved
    by_pattern = asks_per_pattern(engine, ask_of)
    assert all(len(asks) == 1 for asks in by_pattern.values()), by_pattern
    assert refiled.patterns_after == len(by_pattern)
    stored = patterns(engine)
    assert set(stored) == set(by_pattern)  # patterns left empty are gone
    for pattern_id, pattern in stored.items():
        own = [e for e in examples(engine) if e.pattern_id == pattern_id]
        # Each pattern answers with one of its own examples' replies, and counts them.
        assert pattern.reply_key in {reply_key(e.reply) for e in own}
        assert pattern.example_count == len(own)
    # The index and the memory follow SQL.
    points = services.store.retrieve([e.id for e in examples(engine)])  # type: ignore[misc]
    assert {p.example_id: p.pattern_id for p in points} == {e.id: e.pattern_id for e in examples(engine)}
    assert set(services.memories.get(TENANT).patterns) == set(stored)


def test_approved_patterns_and_shared_replies_stay_where_they_are(services: Services, engine: Engine) -> None:
    ask_of = learn_pairs(services, engine)
    # One reply sent twice: the repetition already says where those two examples go.
    services.learner.learn(TENANT, Interaction("i want to check my bill please", "Your bill is online."))
    shared = services.learner.learn(TENANT, Interaction("i want to view the bill", "Your bill is online."))
    ask_of |= {"i want to check my bill please": "check", "i want to view the bill": "check"}
    approved_id = next(p for p in asks_per_pattern(engine, ask_of) if p != shared.pattern_id)
    with Session(engine) as session:
        approved = session.get(Pattern, approved_id)
        assert approved is not None
        approved.status = PatternStatus.approved
        session.add(approved)
        session.commit()
    before = {e.id: e.pattern_id for e in examples(engine)}

    services.learner.regroup(TENANT, min_examples=10, max_examples=1000)

    after = {e.id: e.pattern_id for e in examples(engine)}
    assert all(after[i] == approved_id for i, p in before.items() if p == approved_id)
    assert after[shared.example_id] == before[shared.example_id]
    assert patterns(engine)[approved_id].status == PatternStatus.approved


def test_an_emptied_pattern_that_decisions_name_is_disabled_not_deleted(
    services: Services, engine: Engine
) -> None:
    ask_of = learn_pairs(services, engine)
    before = set(patterns(engine))
    with Session(engine) as session:
        for n, pattern_id in enumerate(before):
            session.add(
                Decision(
                    id=f"d{n}",
                    tenant=TENANT,
                    text="a message",
                    pattern_id=pattern_id,
                    action="none",
                    decision="none",
                    reason="below the suggest threshold",
                )
            )
        session.commit()

    services.learner.regroup(TENANT, min_examples=10, max_examples=1000)

    stored = patterns(engine)
    assert set(stored) >= before  # every pattern a decision names is still there
    in_use = set(asks_per_pattern(engine, ask_of))
    for pattern_id in before - in_use:
        assert stored[pattern_id].status == PatternStatus.disabled and stored[pattern_id].example_count == 0


def test_nothing_moves_outside_the_bounds(services: Services, engine: Engine) -> None:
    learn_pairs(services, engine)
    before = {e.id: e.pattern_id for e in examples(engine)}
    assert services.learner.regroup(TENANT, min_examples=500, max_examples=1000).moved == {}
    assert services.learner.regroup(TENANT, min_examples=10, max_examples=100).moved == {}
    assert {e.id: e.pattern_id for e in examples(engine)} == before
