"""The matcher: calibrated decisions, explanations, modes, and failing safe."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlmodel import Session, select

from app.config import Settings
from app.db import session_scope
from app.learning.learner import Interaction
from app.learning.matcher import action_for, decision_for
from app.models import Action, Decision, DecisionKind, Pattern
from app.services import Services, build_services
from app.tenants import create_tenant
from embeddings.batching import MicroBatchingEmbedder
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_client, wait_until_loaded
from tests.test_learner import FlakyStore

TOPICS = {
    "The door code for Bedford is 4512.": [
        "door code bedford",
        "bedford door locked code",
        "code to get in bedford",
    ],
    "We're open 7am to 11pm.": ["opening hours", "when are you open", "what hours are you open today"],
    "Bays are $45 per hour.": ["how much per hour", "price of a bay per hour", "hourly price bay"],
    "Refunds take 5 business days.": ["refund please", "i want a refund", "refund for my booking"],
    "Gift cards are sold online.": ["gift card", "buy a gift card", "gift card for dad"],
}


@pytest.fixture
def store(tmp_path: Path, fake_embedder: FakeEmbedder) -> FlakyStore:
    return FlakyStore(EdgeStore(tmp_path / "qdrant", dim=fake_embedder.dim))


@pytest.fixture
def services(settings: Settings, store: FlakyStore, fake_embedder: FakeEmbedder) -> Iterator[Services]:
    built = build_services(settings, embedder=fake_embedder, store=store)
    pairs = [Interaction(text, reply) for reply, texts in TOPICS.items() for text in texts]
    built.learner.learn_many("default", pairs * 1)
    built.calibration.fit("default")
    yield built
    built.close()


def test_thresholds_map_confidence_to_action() -> None:
    assert action_for(0.99, 0.9, 0.98) is Action.auto
    assert action_for(0.95, 0.9, 0.98) is Action.suggest
    assert action_for(0.5, 0.9, 0.98) is Action.abstain


def test_pattern_mode_caps_the_decision() -> None:
    assert decision_for(Action.auto, "candidate", "auto")[0] is DecisionKind.shadow
    assert decision_for(Action.auto, "approved", "shadow")[0] is DecisionKind.shadow
    assert decision_for(Action.auto, "approved", "suggest")[0] is DecisionKind.suggest
    assert decision_for(Action.suggest, "approved", "auto")[0] is DecisionKind.suggest
    assert decision_for(Action.auto, "approved", "auto")[0] is DecisionKind.auto
    assert decision_for(Action.abstain, "approved", "auto")[0] is DecisionKind.abstain


def test_calibration_is_stored_and_used(services: Services) -> None:
    model = services.memories.get("default").model
    assert model is not None and model.calibration_id is not None
    assert 0.0 < model.suggest_threshold <= model.auto_threshold


def test_match_records_an_explained_decision(services: Services) -> None:
    result = services.matcher.match("default", "bedford door code")
    assert result.reply == "The door code for Bedford is 4512."
    assert (
        result.explanation["neighbours"][0]["similarity"]
        >= result.explanation["neighbours"][-1]["similarity"]
    )
    assert "features" in result.explanation and result.explanation["calibration_id"]
    services.decisions.flush()
    with Session(services.engine) as session:
        stored = session.get(Decision, result.decision_id)
        assert stored is not None and stored.pattern_id == result.pattern_id
        assert stored.explanation["neighbours"]


def test_a_match_says_where_its_time_went(
    services: Services, store: FlakyStore, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    embed, search_batch = fake_embedder.embed, store.search_batch

    def slow_embed(texts):  # type: ignore[no-untyped-def]
        time.sleep(0.02)
        return embed(texts)

    def slow_search(vectors, tenant, k, statuses=("active", "gold")):  # type: ignore[no-untyped-def]
        time.sleep(0.03)
        return search_batch(vectors, tenant, k, statuses)

    monkeypatch.setattr(fake_embedder, "embed", slow_embed)
    monkeypatch.setattr(store, "search_batch", slow_search)
    result = services.matcher.match("default", "a brand new way to ask for the bedford door code")
    stages = result.stages_ms
    assert stages["batch"] == 1 and stages["embed"] >= 20 and stages["search"] >= 30
    assert 0 < stages["score"] < 20
    assert stages["embed"] + stages["search"] + stages["score"] <= result.latency_ms
    services.decisions.flush()
    with Session(services.engine) as session:
        stored = session.get(Decision, result.decision_id)
    assert stored is not None and stored.stages_ms == stages  # kept with the decision for audit


def test_dry_run_records_nothing(services: Services) -> None:
    result = services.matcher.match("default", "opening hours", record=False)
    assert result.decision_id is None
    services.decisions.flush()
    with Session(services.engine) as session:
        assert session.exec(select(Decision)).all() == []


def test_unlike_anything_learned_gets_no_answer(services: Services) -> None:
    result = services.matcher.match("default", "zebra quantum saxophone")
    assert result.action == "abstain" and result.decision == "abstain"


def test_index_outage_degrades_to_a_human(services: Services, store: FlakyStore) -> None:
    store.down = True
    result = services.matcher.match("default", "bedford door code")
    assert result.decision == "abstain" and "unavailable" in result.reason
    assert result.decision_id is not None  # the message is still on record
    services.decisions.flush()
    with Session(services.engine) as session:
        assert session.get(Decision, result.decision_id).decision == "abstain"  # type: ignore[union-attr]


def test_disabled_pattern_never_answers(services: Services) -> None:
    target = services.matcher.match("default", "bedford door code", record=False).pattern_id
    with session_scope(services.engine) as session:
        session.get(Pattern, target).status = "disabled"  # type: ignore[union-attr]
    services.memories.forget("default")
    assert services.matcher.match("default", "bedford door code", record=False).pattern_id != target


def test_a_message_between_two_patterns_gets_no_answer(services: Services) -> None:
    clear = services.matcher.match("default", "refund for my booking please", record=False)
    between = services.matcher.match("default", "refund gift card", record=False)
    assert clear.confidence > between.confidence
    assert between.action == "abstain"
    runner_up = between.explanation.get("runner_up")
    assert runner_up is not None and runner_up != between.pattern_id


def test_readiness_names_a_failing_index(services: Services, store: FlakyStore) -> None:


    with api_client(services) as client:
        wait_until_loaded(services)
        assert client.get("/readyz").status_code == 200
        store.down = True
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["checks"]["index"].startswith("error")
        # Matching still answers: no auto-reply, a human sees it.
        body = client.post("/api/match", json={"text": "bedford door code"}).json()
        assert body["decision"] == "abstain"


def test_concurrent_matches_are_batched_and_each_caller_gets_its_own_answer(
    services: Services, store: FlakyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_tenant(services.engine, "north", "North")
    services.learner.learn_many("north", [Interaction(t, "North opens at 9am.") for t in ["opening hours"] * 3])
    texts = [text for texts in TOPICS.values() for text in texts] * 2
    expected = {text: services.matcher.match("default", text, record=False) for text in texts}
    calls: list[tuple[str, int]] = []
    search_batch = store.search_batch

    def slow_search(vectors, tenant, k, statuses=("active", "gold")):  # type: ignore[no-untyped-def]
        calls.append((tenant, len(vectors)))
        time.sleep(0.02)  # long enough for the other callers to queue up behind
        return search_batch(vectors, tenant, k, statuses)

    monkeypatch.setattr(store, "search_batch", slow_search)
    jobs = [("default", text) for text in texts] + [("north", "opening hours")] * 4
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda job: services.matcher.match(*job, record=False), jobs))
    for (tenant, text), result in zip(jobs, results, strict=True):
        assert result.tenant == tenant
        if tenant == "default":
            assert (result.pattern_id, result.confidence) == (expected[text].pattern_id, expected[text].confidence)
        else:
            assert result.explanation["neighbours"][0]["pattern_id"] != expected["opening hours"].pattern_id
    assert max(size for _, size in calls) > 1  # callers shared index calls
    assert sum(size for _, size in calls) == len(jobs)  # each query searched once, in its own tenant
    assert {tenant for tenant, _ in calls} == {"default", "north"}


def test_an_index_outage_in_a_batch_reaches_every_caller_as_no_answer(
    services: Services, store: FlakyStore
) -> None:
    store.down = True
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda text: services.matcher.match("default", text), ["bedford door code"] * 8))
    assert all(r.pattern_id is None and "vector index unavailable" in r.reason for r in results)


def test_the_matcher_embeds_its_own_batches_without_a_second_batcher(
    settings: Settings, store: FlakyStore, fake_embedder: FakeEmbedder
) -> None:
    # Behind a second batcher, the two match workers' batches would be merged into one model
    # call, and neither could search and score while the other's batch is in the model.
    batching = MicroBatchingEmbedder(fake_embedder)
    built = build_services(settings, embedder=batching, store=store)
    try:
        assert built.matcher.embedder is fake_embedder
        assert built.learner.embedder is batching  # other callers still share the batcher
    finally:
        built.close()


def test_a_calibration_reaches_a_memory_reloaded_while_it_was_fitted(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    embed = services.calibration.embedder.embed
    reloaded: list[bool] = []

    def reload_first(texts):  # type: ignore[no-untyped-def]
        if not reloaded:  # another process changed the tenant: a match reloads it mid-fit
            reloaded.append(True)
            services.memories.forget("default")
            services.memories.get("default")
        return embed(texts)

    monkeypatch.setattr(services.calibration.embedder, "embed", reload_first)
    fitted = services.calibration.fit("default")

    model = services.memories.get("default").model
    assert model is not None and model.calibration_id == fitted["calibration_id"]


def test_a_verdict_moves_the_posterior_of_a_memory_reloaded_while_it_was_stored(services: Services) -> None:
    from app.learning.feedback import ACCEPTED, FeedbackRecorder

    result = services.matcher.match("default", "bedford door code")
    services.decisions.flush()
    with Session(services.engine) as session:
        decision = session.get(Decision, result.decision_id)
    assert decision is not None and decision.pattern_id is not None
    decision.action = "suggest"  # a proposal, whose verdict moves the posterior

    def judge_during_a_reload(proposed: str) -> tuple[str, float]:
        services.memories.forget("default")  # another process changed the tenant ...
        services.memories.get("default")  # ... and a match reloads it before this commit
        return ACCEPTED, 1.0

    FeedbackRecorder(services.engine, services.memories).store(decision, judge_during_a_reload, shown=True)

    state = services.memories.get("default").patterns[decision.pattern_id]
    assert (state.alpha, state.beta) != (1.0, 1.0)
