"""After an import, differently worded examples are filed again by their words, in SQL, in the
index and in memory; what operators decided stays as it is."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.learning import refiling, word_grouping
from app.learning.facts import reply_key
from app.learning.learner import Interaction
from app.learning.refiling import Refiled, choose_owners, regroup_after_import
from app.models import Example, Pattern, PatternStatus
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


def regroup(services: Services, min_examples: int = 10, max_examples: int = 1000) -> Refiled:
    services.settings.regroup_min_examples = min_examples
    services.settings.regroup_max_examples = max_examples
    return regroup_after_import(services, TENANT)


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


# None: each of the 120 examples votes; 40: they vote in 40 units of alike examples.
@pytest.mark.parametrize("voters", [None, 40])
def test_mixed_patterns_are_filed_again_by_what_they_ask(
    services: Services, engine: Engine, voters: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if voters is not None:
        monkeypatch.setattr(word_grouping, "MAX_VOTERS", voters)
    ask_of = learn_pairs(services, engine)
    assert any(len(asks) > 1 for asks in asks_per_pattern(engine, ask_of).values())

    refiled = regroup(services)

    assert refiled.examples == 120 and refiled.moved
    by_pattern = asks_per_pattern(engine, ask_of)
    assert all(len(asks) == 1 for asks in by_pattern.values()), by_pattern
    assert refiled.patterns_after == len(by_pattern)
    stored = patterns(engine)
    assert {p for p, pattern in stored.items() if pattern.status != PatternStatus.disabled} == set(by_pattern)
    for pattern_id in by_pattern:
        pattern = stored[pattern_id]
        own = [e for e in examples(engine) if e.pattern_id == pattern_id]
        # Each pattern answers with one of its own examples' replies, and counts them.
        assert reply_key(pattern.response_text) in {reply_key(e.reply) for e in own}
        assert pattern.example_count == len(own)
    # The index and the memory follow SQL.
    points = services.store.retrieve([e.id for e in examples(engine)])  # type: ignore[misc]
    assert {p.example_id: p.pattern_id for p in points} == {e.id: e.pattern_id for e in examples(engine)}
    memory = services.memories.get(TENANT)
    assert {p for p, state in memory.patterns.items() if state.status != PatternStatus.disabled} == set(
        by_pattern
    )


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

    regroup(services)

    after = {e.id: e.pattern_id for e in examples(engine)}
    assert all(after[i] == approved_id for i, p in before.items() if p == approved_id)
    assert after[shared.example_id] == before[shared.example_id]
    assert patterns(engine)[approved_id].status == PatternStatus.approved


def test_a_regrouping_is_audited_and_undone_in_one_step(services: Services, engine: Engine) -> None:
    ask_of = learn_pairs(services, engine)
    before_examples = {e.id: e.pattern_id for e in examples(engine)}
    before_patterns = {p.id: (p.status, p.response_text) for p in patterns(engine).values()}

    refiled = regroup(services)

    assert refiled.audit_id is not None
    stored = patterns(engine)
    in_use = set(asks_per_pattern(engine, ask_of))
    # Nothing is deleted: a pattern left empty is disabled, so the revert can bring it back.
    assert set(stored) >= set(before_patterns)
    for pattern_id in set(stored) - in_use:
        assert stored[pattern_id].status == PatternStatus.disabled and stored[pattern_id].example_count == 0

    services.governance.revert(TENANT, "admin", refiled.audit_id)

    assert {e.id: e.pattern_id for e in examples(engine)} == before_examples
    after_patterns = patterns(engine)
    assert {
        p: (after_patterns[p].status, after_patterns[p].response_text) for p in before_patterns
    } == before_patterns
    # Patterns the regrouping created are disabled by the revert (history may name them).
    assert all(
        after_patterns[p].status == PatternStatus.disabled for p in set(after_patterns) - set(before_patterns)
    )
    points = services.store.retrieve(list(before_examples))
    assert {p.example_id: p.pattern_id for p in points} == before_examples


def test_nothing_moves_outside_the_bounds(services: Services, engine: Engine) -> None:
    learn_pairs(services, engine)
    before = {e.id: e.pattern_id for e in examples(engine)}
    assert regroup(services, min_examples=500).moved == {}
    assert regroup(services, max_examples=100).moved == {}
    assert {e.id: e.pattern_id for e in examples(engine)} == before


def test_a_group_never_keeps_a_pattern_whose_staying_replies_state_other_facts() -> None:
    moving = [
        Example(id=i, tenant=TENANT, pattern_id=1, text="door code?", reply=r, text_hash=str(i))
        for i, r in enumerate(["The door code is 7788", "Use 7788 at the door", "Code 7788, enjoy"])
    ]
    # Pattern 1 also holds a reply sent many times that stays: "The door code is 4512".
    assert choose_owners([moving], staying={1: {"num:4512"}}) == [None]  # a pattern of its own
    assert choose_owners([moving], staying={1: {"num:7788"}}) == [1]
    assert choose_owners([moving], staying={}) == [1]


def test_regrouping_again_waits_for_something_new_to_be_learned(services: Services, engine: Engine) -> None:
    learn_pairs(services, engine)
    first = regroup(services)
    assert first.moved and first.audit_id is not None
    # Cut again, the votes would only split what they split before: nothing happens.
    again = regroup(services)
    assert again.moved == {} and again.up_to_date_since == first.audit_id and again.audit_id is None

    services.learner.learn(
        TENANT, Interaction("i want to view the invoice from Mr Jones", "Open billing and read it.")
    )
    assert regroup(services).up_to_date_since is None  # something new: it runs again


def test_a_reply_sent_again_while_the_vote_runs_keeps_its_examples_together(
    services: Services, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    learn_pairs(services, engine)
    vote = refiling.regroup
    sent_again: dict[str, str] = {}

    def vote_then_learn(messages: list[str], replies: list[str], groups: int) -> list[list[int]]:
        found = vote(messages, replies, groups)
        # An example the plan moves: filed by the person it names, grouped with others.
        for group in found:
            people = Counter(messages[i].rsplit(" from ", 1)[1] for i in group)
            owner = people.most_common(1)[0][0]
            moving = next((i for i in group if not messages[i].endswith(owner)), None)
            if moving is not None:
                sent_again["reply"] = replies[moving]
                break
        services.learner.learn(TENANT, Interaction("the same answer please", sent_again["reply"]))
        return found

    monkeypatch.setattr(refiling, "regroup", vote_then_learn)
    assert regroup(services).moved
    both = [e for e in examples(engine) if e.reply == sent_again["reply"]]
    assert len(both) == 2 and both[0].pattern_id == both[1].pattern_id  # one reply, one pattern
    assert patterns(engine)[both[0].pattern_id].status != PatternStatus.disabled


def test_nothing_is_learned_while_examples_move(
    services: Services, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    learn_pairs(services, engine)
    apply = refiling.apply_plan
    live = threading.Thread(
        target=services.learner.learn,
        args=(
            TENANT,
            Interaction("i want to view the statement from Mr Jones", "Open billing, then statements."),
        ),
    )

    def apply_while_someone_learns(*args: Any) -> Refiled:
        live.start()
        live.join(timeout=0.5)
        assert live.is_alive()  # waiting for the tenant's learning lock
        return apply(*args)

    monkeypatch.setattr(refiling, "apply_plan", apply_while_someone_learns)
    assert regroup(services).moved
    live.join(timeout=10)
    assert not live.is_alive()
    learned = [e for e in examples(engine) if e.text == "i want to view the statement from Mr Jones"]
    assert len(learned) == 1 and patterns(engine)[learned[0].pattern_id].status != PatternStatus.disabled
