"""The webhook end to end over HTTP: signatures, bad input, idempotency, ordering, decisions."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.config import Settings
from app.db import make_engine
from app.models import Conversation, Decision, Example, Message, WebhookEvent
from app.services import Services, build_services
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_client
from tests.flow_helpers import (
    CUSTOMER,
    OTHER_SECRET,
    SECRET,
    add_line,
    later,
    message_event,
    post_legacy,
    post_standard,
)


@pytest.fixture
def services(
    settings: Settings, tmp_path: Path, fake_embedder: FakeEmbedder, db_url: str
) -> Iterator[Services]:
    configured = settings.model_copy(update={"openphone_webhook_secret": SECRET})
    built = build_services(
        configured,
        embedder=fake_embedder,
        store=EdgeStore(tmp_path / "qdrant", dim=fake_embedder.dim),
        engine=make_engine(db_url),
    )
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with api_client(services) as test_client:
        add_line(test_client)
        yield test_client


def count(services: Services, model: type) -> int:
    with Session(services.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_signed_inbound_message_is_stored_threaded_and_decided(
    client: TestClient, services: Services
) -> None:
    response = post_legacy(client, message_event("what's the door code for bedford"))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "accepted" and body["message_id"]
    assert services.flow.drain()
    services.decisions.flush()
    with Session(services.engine) as session:
        message = session.get(Message, body["message_id"])
        assert message is not None and message.state == "decided" and message.author == "customer"
        decision = session.get(Decision, message.decision_id)
        assert decision is not None and decision.message_id == message.id
        assert decision.decision == "abstain"  # nothing learned yet: a human answers
        assert session.get(Conversation, message.conversation_id).customer_number == CUSTOMER  # type: ignore[union-attr]


def test_standard_webhooks_envelope_and_signature_are_accepted(
    client: TestClient, services: Services
) -> None:
    legacy = message_event("are you open on sunday")
    payload = {
        "type": "message.received",
        "timestamp": int(time.time()),
        "data": {"resource": legacy["data"]["object"], "context": {"phoneNumber": "+15550001000"}},
    }
    response = post_standard(client, payload, msg_id="msg_2Lxyz")
    assert response.status_code == 202, response.text
    with Session(services.engine) as session:
        event = session.exec(select(WebhookEvent)).one()
    assert event.event_id == "msg_2Lxyz" and event.status == "accepted"


def test_webhook_rejects_forged_signature_and_stores_nothing(client: TestClient, services: Services) -> None:
    response = post_legacy(client, message_event("hello"), secret=OTHER_SECRET)
    assert response.status_code == 401
    assert "signature" in response.json()["detail"]
    assert count(services, WebhookEvent) == 0 and count(services, Message) == 0


def test_webhook_rejects_stale_signature(client: TestClient, services: Services) -> None:
    stale = int((time.time() - 3600) * 1000)
    response = post_legacy(client, message_event("hello"), ts_ms=stale)
    assert response.status_code == 401
    assert "tolerance" in response.json()["detail"]
    assert count(services, Message) == 0


def test_webhook_without_signature_is_401(client: TestClient, services: Services) -> None:
    response = client.post(
        "/webhooks/openphone",
        content=json.dumps(message_event("hi")),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 401 and count(services, Message) == 0


def test_webhook_body_tampered_after_signing_is_401(client: TestClient, services: Services) -> None:
    body = json.dumps(message_event("hi")).encode()
    from app.webhooks.signature import sign_legacy

    header = sign_legacy(body, SECRET, int(time.time() * 1000))
    response = client.post(
        "/webhooks/openphone",
        content=body.replace(b"hi", b"yo"),
        headers={"content-type": "application/json", "openphone-signature": header},
    )
    assert response.status_code == 401 and count(services, Message) == 0


@pytest.mark.parametrize(
    ("drop", "field"),
    [
        ("from", "body.data.object.from"),
        ("direction", "body.data.object.direction"),
        ("id", "body.data.object.id"),
    ],
)
def test_webhook_missing_field_is_422_naming_it(
    client: TestClient, services: Services, drop: str, field: str
) -> None:
    payload = message_event("hi there")
    del payload["data"]["object"][drop]
    response = post_legacy(client, payload)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert count(services, Message) == 0 and count(services, WebhookEvent) == 0


def test_webhook_malformed_json_is_400(client: TestClient, services: Services) -> None:
    response = post_legacy(client, None, raw=b'{"type": "message.received", "data": ')
    assert response.status_code == 400 and "JSON" in response.json()["detail"]
    assert count(services, WebhookEvent) == 0


def test_webhook_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post("/webhooks/openphone", content=b"a=b", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_webhook_oversized_body_is_413(client: TestClient, services: Services) -> None:
    payload = message_event("x" * (services.settings.webhook_max_bytes + 10))
    response = post_legacy(client, payload)
    assert response.status_code == 413 and count(services, Message) == 0


def test_duplicate_delivery_is_stored_and_processed_once(client: TestClient, services: Services) -> None:
    payload = message_event("do you sell gift cards")
    first, again = post_legacy(client, payload), post_legacy(client, payload)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert services.flow.drain()
    services.decisions.flush()
    assert (
        count(services, Message) == 1
        and count(services, WebhookEvent) == 1
        and count(services, Decision) == 1
    )


def test_same_message_under_a_new_event_id_is_not_stored_twice(
    client: TestClient, services: Services
) -> None:
    first = message_event("do you sell gift cards", message_id="ACsame")
    second = message_event("do you sell gift cards", message_id="ACsame")
    assert post_legacy(client, first).status_code == 202
    response = post_legacy(client, second)
    assert response.status_code == 202 and response.json()["status"] == "duplicate_message"
    assert count(services, Message) == 1 and count(services, WebhookEvent) == 2


def test_unknown_event_type_is_acknowledged_and_recorded(client: TestClient, services: Services) -> None:
    payload = {
        "id": "EVcall1",
        "object": "event",
        "type": "call.completed",
        "data": {"object": {"id": "CA1"}},
    }
    response = post_legacy(client, payload)
    assert response.status_code == 202 and response.json()["status"] == "ignored"
    with Session(services.engine) as session:
        event = session.exec(select(WebhookEvent)).one()
    assert event.event_type == "call.completed" and event.payload["data"]["object"]["id"] == "CA1"
    assert count(services, Message) == 0


def test_unknown_phone_line_is_acknowledged_and_recorded(client: TestClient, services: Services) -> None:
    payload = message_event("hello?", line_id="PNnobody", line_number="+15559999999")
    response = post_legacy(client, payload)
    assert response.status_code == 202
    assert response.json()["status"] == "unknown_line" and "PNnobody" in response.json()["detail"]
    with Session(services.engine) as session:
        assert session.exec(select(WebhookEvent)).one().status == "unknown_line"
    assert count(services, Message) == 0


def test_line_with_its_own_secret_accepts_it(client: TestClient, services: Services) -> None:
    line = client.post(
        "/api/lines",
        json={"external_id": "PNdartmouth", "number": "+15550002000", "webhook_secret": OTHER_SECRET},
    )
    assert line.status_code == 201 and line.json()["has_own_secret"]
    payload = message_event("hi", line_id="PNdartmouth", line_number="+15550002000")
    assert post_legacy(client, payload, secret=OTHER_SECRET).status_code == 202


def test_reply_before_its_message_is_paired_when_the_message_arrives(
    client: TestClient, services: Services
) -> None:
    question = message_event("can i bring my own clubs", at=later(-60))
    reply = message_event("Yes, bring your own clubs any time.", direction="outgoing", at=later(-30))
    assert post_legacy(client, reply).status_code == 202
    assert services.flow.drain()
    with Session(services.engine) as session:
        assert session.exec(select(Message)).one().state == "unpaired"
    assert post_legacy(client, question).status_code == 202
    assert services.flow.drain()
    with Session(services.engine) as session:
        example = session.exec(select(Example)).one()
        states = {m.direction: m.state for m in session.exec(select(Message)).all()}
    assert (example.text, example.reply) == (
        "can i bring my own clubs",
        "Yes, bring your own clubs any time.",
    )
    assert states == {"outgoing": "learned", "incoming": "answered"}  # already answered: no decision


def test_burst_of_customer_messages_is_matched_as_one_turn(client: TestClient, services: Services) -> None:
    for text, offset in (("hi", -50), ("at bedford", -40), ("my simulator froze", -30)):
        assert post_legacy(client, message_event(text, at=later(offset))).status_code == 202
    assert (
        post_legacy(
            client, message_event("Restarting it now.", direction="outgoing", at=later(-5))
        ).status_code
        == 202
    )
    assert services.flow.drain()
    with Session(services.engine) as session:
        example = session.exec(select(Example)).one()
    assert example.text == "at bedford my simulator froze"  # the greeting is not part of the question
