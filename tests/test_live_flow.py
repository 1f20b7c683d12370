"""Decisions, learning from operators, shadow/suggest/auto, business rules, live feed, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from starlette.websockets import WebSocketDisconnect

from app.config import Settings
from app.models import Decision, Example, Message, Outbound
from app.sending.dryrun import DryRunSender
from app.services import Services, build_services
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_client
from tests.flow_helpers import SECRET, add_line, install_model, later, message_event, pattern_for, post_legacy

DOOR = "The door code for Bedford is 4512."
HOURS = "We're open 7am to 11pm every day."
LEARNED = [
    ("what's the door code for bedford", DOOR),
    ("bedford door code please", DOOR),
    ("code to get in at bedford", DOOR),
    ("what are your opening hours", HOURS),
    ("when are you open", HOURS),
    ("opening hours on sunday", HOURS),
]
QUESTION = "whats the door code for bedford"


def build(settings: Settings, tmp_path: Path, embedder: FakeEmbedder, shadow: bool) -> Services:
    configured = settings.model_copy(update={"openphone_webhook_secret": SECRET, "shadow": shadow})
    return build_services(
        configured,
        embedder=embedder,
        store=EdgeStore(tmp_path / "qdrant", dim=embedder.dim),
        sender=DryRunSender(),
    )


def start(services: Services, mode: str = "auto") -> TestClient:
    client = api_client(services)
    client.__enter__()
    add_line(client)
    for text, reply in LEARNED:
        assert client.post("/api/learn", json={"text": text, "reply": reply}).status_code == 201
    install_model(services)
    for reply in (DOOR, HOURS):
        pattern = pattern_for(services, reply)
        response = client.patch(f"/api/patterns/{pattern.id}", json={"mode": mode, "status": "approved"})
        assert response.status_code == 200, response.text
    return client


@pytest.fixture
def live(
    settings: Settings, tmp_path: Path, fake_embedder: FakeEmbedder
) -> Iterator[tuple[TestClient, Services]]:
    """Shadow switch off, patterns approved in auto mode."""
    services = build(settings, tmp_path, fake_embedder, shadow=False)
    client = start(services)
    yield client, services
    client.__exit__(None, None, None)
    services.close()


@pytest.fixture
def shadowed(
    settings: Settings, tmp_path: Path, fake_embedder: FakeEmbedder
) -> Iterator[tuple[TestClient, Services]]:
    """The default: the global shadow switch on."""
    services = build(settings, tmp_path, fake_embedder, shadow=True)
    client = start(services)
    yield client, services
    client.__exit__(None, None, None)
    services.close()


def deliver(client: TestClient, services: Services, text: str, **kw: Any) -> Decision | None:
    """Post a message, let the worker run, return the decision made for it (None if none)."""
    response = post_legacy(client, message_event(text, **kw))
    assert response.status_code == 202, response.text
    assert services.flow.drain()
    services.decisions.flush()
    with Session(services.engine) as session:
        message = session.get(Message, response.json()["message_id"])
        assert message is not None
        return session.get(Decision, message.decision_id) if message.decision_id else None


def sent(services: Services) -> list[str]:
    assert isinstance(services.sender, DryRunSender)
    return [item.text for item in services.sender.sent]


def test_confident_match_in_auto_mode_is_sent_once(live: tuple[TestClient, Services]) -> None:
    client, services = live
    decision = deliver(client, services, QUESTION)
    assert decision is not None and decision.decision == "auto", decision
    assert decision.stages_ms is not None and decision.stages_ms["batch"] == 1  # where its time went
    assert sent(services) == [DOOR]
    with Session(services.engine) as session:
        outbound = session.exec(select(Outbound)).one()
        own = session.exec(select(Message).where(Message.author == "pls")).one()
    assert outbound.state == "sent" and outbound.attempts == 1
    assert own.text == DOOR and own.conversation_id == outbound.conversation_id
    assert services.flow.drain() and sent(services) == [DOOR]  # nothing is sent again


def test_global_shadow_switch_only_records(shadowed: tuple[TestClient, Services]) -> None:
    client, services = shadowed
    decision = deliver(client, services, QUESTION)
    assert decision is not None and decision.decision == "shadow"
    assert decision.action == "auto" and "shadow mode" in decision.reason and "would auto" in decision.reason
    assert sent(services) == []


def test_tenant_shadow_switch_overrides_the_service_default(shadowed: tuple[TestClient, Services]) -> None:
    client, services = shadowed  # PLS_SHADOW is on for the service
    assert client.get("/api/runtime").json()["shadow"] is True
    assert client.put("/api/policy", json={"shadow": False}).status_code == 200
    assert client.get("/api/runtime").json()["shadow_source"] == "this tenant's setting"
    decision = deliver(client, services, QUESTION)
    assert decision is not None and decision.decision == "auto" and len(sent(services)) == 1
    # An explicit null hands the switch back to the service default.
    assert client.put("/api/policy", json={"shadow": None}).json()["shadow"] is None
    decision = deliver(client, services, "what's the door code at bedford again")
    assert decision is not None and decision.decision == "shadow" and len(sent(services)) == 1


def test_pattern_in_suggest_mode_offers_a_draft(
    settings: Settings, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    services = build(settings, tmp_path, fake_embedder, shadow=False)
    client = start(services, mode="suggest")
    try:
        decision = deliver(client, services, QUESTION)
        assert decision is not None and decision.decision == "suggest" and sent(services) == []
    finally:
        client.__exit__(None, None, None)
        services.close()


def test_own_auto_reply_echo_is_never_learned(live: tuple[TestClient, Services]) -> None:
    client, services = live
    deliver(client, services, QUESTION)
    with Session(services.engine) as session:
        examples_before = len(session.exec(select(Example)).all())
        outbound = session.exec(select(Outbound)).one()
    # The platform posts our reply back, under our id and (in another delivery) under a new one.
    echo = message_event(DOOR, direction="outgoing", message_id=outbound.external_id)
    assert post_legacy(client, echo).json()["status"] == "duplicate_message"
    assert post_legacy(client, message_event(DOOR, direction="outgoing")).status_code == 202
    assert services.flow.drain()
    with Session(services.engine) as session:
        assert len(session.exec(select(Example)).all()) == examples_before
        states = [m.state for m in session.exec(select(Message).where(Message.direction == "outgoing")).all()]
    assert states == ["own", "own"]


def feedback_mean(client: TestClient, pattern_id: int) -> float:
    return float(client.get(f"/api/patterns/{pattern_id}").json()["feedback_mean"])


def test_operator_reply_accepted_is_learned_and_raises_the_pattern_confidence(
    shadowed: tuple[TestClient, Services],
) -> None:
    client, services = shadowed
    pattern = pattern_for(services, DOOR)
    decision = deliver(client, services, QUESTION, at=later(-20))
    assert (
        decision is not None and decision.pattern_id == pattern.id and decision.action in ("suggest", "auto")
    )
    before = services.memories.get("default").patterns[pattern.id].stats().alpha  # type: ignore[index]
    reply = message_event(DOOR, direction="outgoing", at=later(-5))
    assert post_legacy(client, reply).status_code == 202
    assert services.flow.drain()
    with Session(services.engine) as session:
        example = session.exec(select(Example).where(Example.text == QUESTION)).one()
    assert example.reply == DOOR and example.source == "operator"
    assert feedback_mean(client, pattern.id) > 0.5  # type: ignore[arg-type]
    assert services.memories.get("default").patterns[pattern.id].stats().alpha > before  # type: ignore[index]
    detail = client.get(f"/api/patterns/{pattern.id}").json()
    assert detail["accepted_count"] == 1


def test_conversation_marked_gold_marks_what_was_learned_from_it(
    shadowed: tuple[TestClient, Services],
) -> None:
    client, services = shadowed
    decision = deliver(client, services, QUESTION, at=later(-20))
    assert decision is not None
    with Session(services.engine) as session:
        message = session.get(Message, decision.message_id)
        assert message is not None and message.conversation_id is not None
        conversation = message.conversation_id
    assert client.post(f"/api/conversations/{conversation}/gold", json={}).status_code == 409  # nothing yet
    assert post_legacy(client, message_event(DOOR, direction="outgoing", at=later(-5))).status_code == 202
    assert services.flow.drain()
    response = client.post(f"/api/conversations/{conversation}/gold", json={"reason": "textbook answer"})
    assert response.status_code == 200, response.text
    with Session(services.engine) as session:
        example = session.exec(select(Example).where(Example.text == QUESTION)).one()
    assert example.message_id == decision.message_id and example.status == "gold"
    assert response.json()["result"]["example_ids"] == [example.id]
    assert client.post("/api/conversations/999999/gold", json={}).status_code == 404


def test_operator_reply_with_other_facts_is_rejected_and_lowers_confidence(
    shadowed: tuple[TestClient, Services],
) -> None:
    client, services = shadowed
    pattern = pattern_for(services, DOOR)
    deliver(client, services, QUESTION, at=later(-20))
    reply = message_event(
        "The door code for Bedford is 9917 since Monday.", direction="outgoing", at=later(-5)
    )
    post_legacy(client, reply)
    assert services.flow.drain()
    assert feedback_mean(client, pattern.id) < 0.5  # type: ignore[arg-type]
    assert client.get(f"/api/patterns/{pattern.id}").json()["rejected_count"] == 1


def test_operator_verdicts_feed_calibration(shadowed: tuple[TestClient, Services]) -> None:
    client, services = shadowed
    for text, reply in [
        ("door code bedford?", DOOR),
        ("are you open late", HOURS),
        ("open sunday?", HOURS),
    ] + [(f"bedford door code number {i}", DOOR) for i in range(4)]:
        client.post("/api/learn", json={"text": text, "reply": reply})
    deliver(client, services, QUESTION, at=later(-20))
    post_legacy(client, message_event(DOOR, direction="outgoing", at=later(-5)))
    assert services.flow.drain()
    summary = services.calibration.fit("default")
    assert summary["fitted"], summary
    assert summary["rows_by_kind"].get("feedback") == 1


def test_rules_turn_auto_into_a_draft_with_the_reason(live: tuple[TestClient, Services]) -> None:
    client, services = live
    assert client.put("/api/policy", json={"vip_numbers": ["+15557654321"]}).status_code == 200
    decision = deliver(client, services, QUESTION)
    assert decision is not None and decision.decision == "suggest"
    assert "VIP customer" in decision.reason and sent(services) == []


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"holidays": [datetime.now(UTC).date().isoformat()], "timezone": "UTC"}, "holiday"),
        ({"max_auto_per_conversation": 0}, "automatic replies in this conversation"),
        ({"max_auto_per_customer_day": 0}, "automatic replies to this customer"),
        (
            {
                "timezone": "UTC",
                "hours": {
                    d: [["01:00", "02:00"] if datetime.now(UTC).hour >= 12 else ["13:00", "14:00"]]
                    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                },
            },
            "outside auto-reply hours",
        ),
    ],
)
def test_each_business_rule_blocks_auto_reply(
    live: tuple[TestClient, Services], policy: dict[str, Any], expected: str
) -> None:
    client, services = live
    assert client.put("/api/policy", json=policy).status_code == 200
    decision = deliver(client, services, QUESTION)
    assert decision is not None and decision.decision == "suggest"
    assert expected in decision.reason and sent(services) == []


def test_operator_lockout_after_a_person_replied(live: tuple[TestClient, Services]) -> None:
    client, services = live
    deliver(client, services, "do you have gift cards", at=later(-300))
    post_legacy(client, message_event("Yes, at the front desk.", direction="outgoing", at=later(-240)))
    assert services.flow.drain()
    decision = deliver(client, services, QUESTION)
    assert decision is not None and "operator lockout" in decision.reason and sent(services) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (QUESTION + " or can i speak to a human", "asked for a person"),
        ("WHAT IS THE DOOR CODE FOR BEDFORD", "shouting"),
        ("what's the damn door code for bedford, this is ridiculous", "angry"),
    ],
)
def test_escalation_hands_the_turn_to_a_human(
    live: tuple[TestClient, Services], text: str, expected: str
) -> None:
    client, services = live
    decision = deliver(client, services, text)
    assert decision is not None and decision.decision == "abstain"
    assert decision.reason.startswith("escalated") and expected in decision.reason
    assert sent(services) == []


def test_repeated_message_escalates(live: tuple[TestClient, Services]) -> None:
    client, services = live
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services.settings, "burst_window_s", 0.0)  # two separate turns
        post_legacy(client, message_event("hello??", at=later(-100)))
        decision = deliver(client, services, "hello??", at=later(-10))
    assert decision is not None and "repeated the same message" in decision.reason


def test_live_feed_streams_decisions_of_its_tenant(shadowed: tuple[TestClient, Services]) -> None:
    client, services = shadowed
    with client.websocket_connect("/ws/live?tenant=default") as ws:
        assert ws.receive_json() == {"type": "hello", "tenant": "default"}
        deliver(client, services, QUESTION)
        event = ws.receive_json()
    assert event["type"] == "decision" and event["tenant"] == "default"
    assert event["text"] == QUESTION and event["pattern_id"] is not None
    assert event["decision"] == "shadow" and "shadow mode" in event["reason"] and event["confidence"] > 0.5


def test_live_feed_for_unknown_tenant_is_refused(shadowed: tuple[TestClient, Services]) -> None:
    client, _ = shadowed
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws/live?tenant=nope") as ws:
        ws.receive_json()
    assert info.value.code == 4404


def test_metrics_report_coverage_precision_and_time_saved(shadowed: tuple[TestClient, Services]) -> None:
    client, services = shadowed
    deliver(client, services, QUESTION, at=later(-50))
    post_legacy(client, message_event(DOOR, direction="outgoing", at=later(-40)))
    deliver(client, services, "is there parking nearby", customer="+15550009999")
    body = client.get("/api/metrics", params={"days": 7}).json()
    assert body["turns"] == 2 and body["coverage"] == 0.5
    assert body["accepted"] == 1 and body["precision"] == 1.0
    assert body["time_saved_s"] == services.settings.operator_seconds_per_reply
    assert sum(body["by_reason"].values()) == 2 and len(body["per_day"]) == 1
    assert body["per_pattern"][0]["pattern_id"] == pattern_for(services, DOOR).id
    assert client.get("/api/metrics", params={"tenant": "nope"}).status_code == 404


def test_policy_with_bad_time_zone_is_422_and_nothing_changes(live: tuple[TestClient, Services]) -> None:
    client, _ = live
    response = client.put("/api/policy", json={"timezone": "Mars/Olympus", "vip_numbers": ["+1555"]})
    assert response.status_code == 422 and "timezone" in response.text
    assert client.get("/api/policy").json()["vip_numbers"] == []


def test_pattern_mode_must_be_known(live: tuple[TestClient, Services]) -> None:
    client, services = live
    pattern = pattern_for(services, DOOR)
    response = client.patch(f"/api/patterns/{pattern.id}", json={"mode": "yolo"})
    assert response.status_code == 422 and "mode" in response.text
