"""Smart suggestions: idle patterns (disable?), the same messages answered two ways (merge?), duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import session_scope
from app.learning.facts import facts_conflict
from app.models import Feedback, Pattern, PatternStatus, utcnow
from app.services import Services, build_services
from app.suggestions import SuggestionRules, fact_conflicts, suggest
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_client

HOURS = "We're open 7am to 11pm every day."
HOURS_OTHER = "Our hours are seven in the morning until late, all week."
HOURS_TWIN = "We're open 7am to 11pm every day!"
DOOR = "The Bedford door code is 4512."
DOOR_LEEDS = "The Bedford door code is 9911."
HOURS_MESSAGES = ["what are your opening hours", "opening hours today", "what are your hours today"]


@pytest.fixture
def services(settings: Settings, tmp_path: Path, fake_embedder: FakeEmbedder) -> Iterator[Services]:
    built = build_services(
        settings, embedder=fake_embedder, store=EdgeStore(tmp_path / "q", dim=fake_embedder.dim)
    )
    yield built
    built.close()


def learn(client: TestClient, messages: list[str], reply: str) -> int:
    ids = set()
    for text in messages:
        response = client.post("/api/learn", json={"text": text, "reply": reply})
        assert response.status_code == 201, response.text
        ids.add(response.json()["pattern_id"])
    assert len(ids) == 1
    return ids.pop()


def update(services: Services, pattern_id: int, **fields: object) -> None:
    with session_scope(services.engine) as session:
        pattern = session.get(Pattern, pattern_id)
        assert pattern is not None
        for name, value in fields.items():
            setattr(pattern, name, value)


def test_same_messages_answered_differently_suggest_a_merge(services: Services) -> None:
    with api_client(services) as client:
        a = learn(client, HOURS_MESSAGES, HOURS)
        b = learn(client, ["what are your opening hours today", "opening hours"], HOURS_OTHER)
        learn(client, ["my simulator froze", "the screen is frozen"], "Restart it with the red button.")
        found = client.get("/api/suggestions", params={"kind": "merge"}).json()
    assert [s["pattern_ids"] for s in found] == [[a, b]]
    assert found[0]["numbers"]["message_similarity"] >= 0.8 > found[0]["numbers"]["reply_similarity"]
    assert "merge?" in found[0]["reason"]


def test_nearly_identical_replies_are_duplicates(services: Services) -> None:
    with api_client(services) as client:
        a = learn(client, HOURS_MESSAGES, HOURS)
        b = learn(client, ["what are your opening hours today", "opening hours"], HOURS_OTHER)
        update(services, b, response_text=HOURS_TWIN)  # as a person's edit would leave it
        found = client.get("/api/suggestions").json()
    duplicates = [s for s in found if s["kind"] == "duplicate"]
    assert [s["pattern_ids"] for s in duplicates] == [[a, b]]
    assert duplicates[0]["numbers"]["reply_similarity"] >= 0.9


def test_replies_stating_different_facts_are_never_suggested_together(services: Services) -> None:
    with api_client(services) as client:
        learn(client, ["door code for bedford", "bedford door code please"], DOOR)
        learn(client, ["door code for bedford now", "bedford door code"], DOOR_LEEDS)
        assert client.get("/api/suggestions").json() == []


def test_approved_pattern_idle_for_two_weeks_suggests_disabling(services: Services) -> None:
    now = utcnow()
    with api_client(services) as client:
        idle = learn(client, HOURS_MESSAGES, HOURS)
        used = learn(client, ["door code for bedford"], DOOR)
        accepted = learn(client, ["my simulator froze"], "Restart it with the red button.")
        young = learn(client, ["do you rent clubs"], "Yes, clubs are free.")
        update(services, idle, status=PatternStatus.approved, created_at=now - timedelta(days=30),
               last_matched_at=now - timedelta(days=20))  # fmt: skip
        update(services, used, status=PatternStatus.approved, created_at=now - timedelta(days=30),
               last_matched_at=now - timedelta(days=2))  # fmt: skip
        update(services, accepted, status=PatternStatus.approved, created_at=now - timedelta(days=30))
        update(services, young, status=PatternStatus.approved, created_at=now - timedelta(days=3))
        with session_scope(services.engine) as session:
            session.add(Feedback(tenant="default", pattern_id=accepted, decision_id="d1", verdict="accepted",
                                 action="suggest", created_at=now - timedelta(days=1)))  # fmt: skip
        found = client.get("/api/suggestions", params={"kind": "disable"}).json()
    assert [s["pattern_ids"] for s in found] == [[idle]]
    assert found[0]["numbers"]["idle_days"] == 20 and "20 days" in found[0]["reason"]


def test_rules_are_applied_as_given(services: Services) -> None:
    with api_client(services) as client:
        learn(client, HOURS_MESSAGES, HOURS)
        learn(client, ["what are your opening hours today", "opening hours"], HOURS_OTHER)
    strict = SuggestionRules(merge_similarity=0.999, duplicate_similarity=0.999)
    assert suggest(services.engine, services.embedder, "default", strict) == []


def test_suggestions_for_an_unknown_tenant_are_404_and_bad_kind_422(services: Services) -> None:
    with api_client(services) as client:
        assert client.get("/api/suggestions", params={"kind": "nonsense"}).status_code == 422
    from app.errors import TenantNotFound

    with pytest.raises(TenantNotFound):
        suggest(services.engine, services.embedder, "nobody", SuggestionRules())


def test_vectorised_fact_check_agrees_with_facts_conflict_on_every_pair() -> None:
    facts = [
        [],
        ["num:4512"],
        ["num:9911"],
        ["num:4512", "place:bedford"],
        ["num:4512", "place:leeds"],
        ["num:4512", "num:7"],
        ["place:bedford", "time:7am"],
        ["answer:yes"],
        ["answer:no", "num:4512"],
    ]
    rows, cols = np.triu_indices(len(facts), k=1)
    found = fact_conflicts(facts, rows, cols)
    expected = [facts_conflict(facts[i], facts[j]) for i, j in zip(rows.tolist(), cols.tolist(), strict=True)]
    assert found.tolist() == expected and any(expected) and not all(expected)


def test_a_reply_adding_a_fact_the_other_does_not_state_is_still_suggested(services: Services) -> None:
    with api_client(services) as client:
        a = learn(client, ["door code for bedford", "bedford door code please"], DOOR)
        b = learn(client, ["door code for bedford now", "bedford door code"], "Use the side entrance.")
        # as a person's edit would leave it: the same code, and opening hours the other does not state
        update(services, b, response_text=f"{DOOR} Open 7am to 11pm.", key_facts=["num:4512", "time:7am"])
        found = client.get("/api/suggestions").json()
    assert [s["pattern_ids"] for s in found] == [[a, b]]
