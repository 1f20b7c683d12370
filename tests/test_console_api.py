"""The console's own read and write APIs: inbox, verdicts, pattern history, the filtered pattern
list, runtime switches, and the public shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.config import Settings
from app.models import Decision, Example, Feedback, Message
from app.services import Services, build_services
from app.tenants import create_tenant
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_client
from tests.flow_helpers import SECRET, add_line, install_model, message_event, pattern_for, post_legacy

DOOR = "The door code for Bedford is 4512."
HOURS = "We're open 7am to 11pm every day."


@pytest.fixture
def services(settings: Settings, tmp_path: Path, fake_embedder: FakeEmbedder) -> Iterator[Services]:
    configured = settings.model_copy(update={"openphone_webhook_secret": SECRET})
    built = build_services(
        configured, embedder=fake_embedder, store=EdgeStore(tmp_path / "q", dim=fake_embedder.dim)
    )
    create_tenant(built.engine, "other", "Other")
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with api_client(services) as test_client:
        add_line(test_client)
        for text, reply in [
            ("what's the door code for bedford", DOOR),
            ("bedford door code please", DOOR),
            ("what are your opening hours", HOURS),
        ]:
            assert test_client.post("/api/learn", json={"text": text, "reply": reply}).status_code == 201
        install_model(services)
        yield test_client


def deliver(client: TestClient, services: Services, text: str) -> Decision:
    response = post_legacy(client, message_event(text))
    assert response.status_code == 202, response.text
    assert services.flow.drain()
    services.decisions.flush()
    with Session(services.engine) as session:
        message = session.get(Message, response.json()["message_id"])
        assert message is not None and message.decision_id
        decision = session.get(Decision, message.decision_id)
    assert decision is not None
    return decision


def test_shell_and_assets_are_served_without_a_key(client: TestClient) -> None:
    anonymous = TestClient(client.app)
    page = anonymous.get("/")
    assert page.status_code == 200 and "PLS operator console" in page.text
    script = anonymous.get("/console/static/js/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert anonymous.get("/console/static/nope.js").status_code == 404
    assert anonymous.get("/api/inbox").status_code == 401


def test_accepting_a_decision_moves_the_posterior_and_learns_the_reply(
    client: TestClient, services: Services
) -> None:
    decision = deliver(client, services, "hey whats the door code for bedford")
    door = pattern_for(services, DOOR)
    assert decision.pattern_id == door.id and decision.action in ("suggest", "auto")
    response = client.post(f"/api/decisions/{decision.id}/verdict", json={"verdict": "accepted"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verdict"] == "accepted" and body["pattern_id"] == door.id
    assert body["posterior_mean"] == pytest.approx(2 / 3, abs=1e-3)  # Beta(1,1) + one acceptance
    assert body["learned"]["pattern_id"] == door.id
    state = services.memories.get("default").patterns[door.id]  # matching sees it at once
    assert (state.alpha, state.beta) == (2.0, 1.0)
    with Session(services.engine) as session:
        assert session.get(Example, body["learned"]["example_id"]).reply == DOOR  # type: ignore[union-attr]
    again = client.post(f"/api/decisions/{decision.id}/verdict", json={"verdict": "rejected"})
    assert again.status_code == 409 and "already" in again.json()["detail"]
    inbox = client.get("/api/inbox").json()
    assert [(row["decision_id"], row["verdict"], row["reply"]) for row in inbox] == [
        (decision.id, "accepted", DOOR)
    ]
    assert set(inbox[0]["stages_ms"]) == {"embed", "search", "score", "batch"}


def test_an_edit_is_judged_by_its_similarity_and_learned(client: TestClient, services: Services) -> None:
    decision = deliver(client, services, "door code for bedford?")
    edited = "The door code for Bedford is 4512, see you soon!"
    response = client.post(f"/api/decisions/{decision.id}/verdict", json={"reply": edited})
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "edited"
    with Session(services.engine) as session:
        feedback = session.exec(select(Feedback).where(Feedback.decision_id == decision.id)).one()
        learned = session.get(Example, response.json()["learned"]["example_id"])
    assert feedback.verdict == "edited" and 0.5 <= feedback.similarity < 0.95
    assert learned is not None and learned.reply == edited


def test_wrong_without_a_reply_is_a_rejection(client: TestClient, services: Services) -> None:
    decision = deliver(client, services, "whats the bedford door code")
    response = client.post(f"/api/decisions/{decision.id}/verdict", json={"verdict": "rejected"})
    assert response.status_code == 200 and response.json()["verdict"] == "rejected"
    assert response.json()["posterior_mean"] == pytest.approx(1 / 3, abs=1e-3)
    assert response.json()["learned"] is None


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"verdict": "great"}, 422, "verdict"),
        ({"verdict": "edited"}, 422, "reply"),
        ({}, 422, "reply"),
    ],
)
def test_bad_verdicts_are_4xx_with_a_message(
    client: TestClient, services: Services, body: dict, status: int, words: str
) -> None:
    decision = deliver(client, services, "door code bedford")
    response = client.post(f"/api/decisions/{decision.id}/verdict", json=body)
    assert response.status_code == status and words in response.text


def test_verdict_on_an_unknown_or_foreign_decision_is_404(client: TestClient, services: Services) -> None:
    decision = deliver(client, services, "door code bedford please")
    assert client.post("/api/decisions/abc123/verdict", json={"verdict": "accepted"}).status_code == 404
    assert client.post("/api/decisions/not-hex!/verdict", json={"verdict": "accepted"}).status_code == 422
    with api_client(services, tenant="other") as other:
        response = other.post(f"/api/decisions/{decision.id}/verdict", json={"verdict": "accepted"})
        assert response.status_code == 404
        assert other.get("/api/inbox").json() == []


def test_decision_without_a_pattern_cannot_be_judged(client: TestClient, services: Services) -> None:
    # What the matcher records when nothing has been learned that resembles the message.
    decision_id = services.decisions.record(
        tenant="default", text="zebra quantum llama", pattern_id=None, confidence=0.0,
        action="abstain", decision="abstain", reason="nothing similar has been learned", explanation={},
    )  # fmt: skip
    response = client.post(f"/api/decisions/{decision_id}/verdict", json={"verdict": "accepted"})
    assert response.status_code == 422 and "nothing to judge" in response.json()["detail"]


def test_pattern_history_counts_matches_confidence_and_verdicts_per_day(
    client: TestClient, services: Services
) -> None:
    first = deliver(client, services, "hey whats the door code for bedford")
    deliver(client, services, "bedford door code pls")
    client.post(f"/api/decisions/{first.id}/verdict", json={"verdict": "rejected"})
    door = pattern_for(services, DOOR)
    history = client.get(f"/api/patterns/{door.id}/history", params={"days": 7})
    assert history.status_code == 200, history.text
    (today,) = history.json()["per_day"]
    assert today["matches"] == 2 and today["rejected"] == 1 and today["accepted"] == 0
    assert 0.0 < today["mean_confidence"] <= 1.0
    hours = pattern_for(services, HOURS)
    assert client.get(f"/api/patterns/{hours.id}/history").json()["per_day"] == []
    assert client.get("/api/patterns/9999/history").status_code == 404
    assert client.get(f"/api/patterns/{door.id}/history", params={"days": 0}).status_code == 422


def test_pattern_list_filters_by_text_status_and_mode(client: TestClient, services: Services) -> None:
    door = pattern_for(services, DOOR)
    assert (
        client.patch(f"/api/patterns/{door.id}", json={"mode": "suggest", "status": "approved"}).status_code
        == 200
    )
    found = client.get("/api/pattern-list", params={"q": "DOOR code"}).json()
    assert found["total"] == 1 and found["items"][0]["id"] == door.id
    assert client.get("/api/pattern-list", params={"q": str(door.id)}).json()["items"][0]["id"] == door.id
    approved = client.get("/api/pattern-list", params={"status": "approved", "mode": "suggest"}).json()
    assert [p["id"] for p in approved["items"]] == [door.id]
    assert client.get("/api/pattern-list", params={"status": "candidate"}).json()["total"] == 1
    page = client.get("/api/pattern-list", params={"limit": 1, "offset": 1, "sort": "id"}).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    assert client.get("/api/pattern-list", params={"sort": "secret"}).status_code == 422
    assert client.get("/api/pattern-list", params={"mode": "loud"}).status_code == 422


def test_runtime_reports_the_shadow_switch_and_thresholds(client: TestClient, services: Services) -> None:
    runtime = client.get("/api/runtime").json()
    assert runtime["shadow"] is services.settings.shadow and "PLS_SHADOW" in runtime["shadow_source"]
    assert runtime["tenant_shadow"] is None
    assert runtime["thresholds"] == {"suggest": 0.6, "auto": 0.9}  # install_model's
