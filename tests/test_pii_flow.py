"""PII at the edges: never in examples, decisions, index payloads, embeddings, LLM requests or logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlmodel import Session, select

from app.config import Settings
from app.models import Decision, Example, Message, Pattern
from app.sending.base import SendError, SendResult
from app.services import Services, build_services
from embeddings.openai import OpenAIEmbedder
from indexer import schema
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_client
from tests.flow_helpers import CUSTOMER, message_event, post_legacy
from tests.test_embeddings_openai import client_for, fake_api
from tests.test_live_flow import QUESTION, build, deliver, start

PHONE, EMAIL, CARD, STREET = "555-123-4567", "sam.smith@example.com", "4111 1111 1111 1111", "12 Baker Street"
RAW = (PHONE, EMAIL, CARD, STREET, "5551234567")
TEXT = f"door code please, I'm at {STREET}, call {PHONE} or mail {EMAIL}"
REPLY = f"Sent the code to {EMAIL}; charged card {CARD}."


def assert_clean(blob: Any) -> None:
    text = blob if isinstance(blob, str) else json.dumps(blob, default=str)
    for raw in RAW:
        assert raw not in text, f"{raw!r} leaked into {text[:300]!r}"


class RecordingEmbedder(FakeEmbedder):
    """The fake embedder, keeping every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return super().embed_batch(texts)


@pytest.fixture
def recording() -> RecordingEmbedder:
    return RecordingEmbedder()


@pytest.fixture
def services(settings: Settings, tmp_path: Path, recording: RecordingEmbedder) -> Iterator[Services]:
    built = build_services(
        settings, embedder=recording, store=EdgeStore(tmp_path / "qdrant", dim=recording.dim)
    )
    yield built
    built.close()


def raw_payloads(store: EdgeStore, example_ids: list[int]) -> list[dict[str, Any]]:
    """Payloads exactly as the engine holds them."""
    with store._live.using() as shard:
        records = shard.retrieve([schema.point_id(i) for i in example_ids], True, False)
    return [dict(r.payload or {}) for r in records]


def test_learn_match_and_search_store_and_embed_only_masked_text(
    services: Services, recording: RecordingEmbedder
) -> None:
    with api_client(services) as client:
        learned = client.post(
            "/api/learn", json={"text": TEXT, "reply": REPLY, "context": [f"hi it's {PHONE}"]}
        ).json()
        match = client.post("/api/match", json={"text": f"code? {PHONE} {EMAIL}"})
        assert match.status_code == 200
        assert client.get("/api/search", params={"q": f"my card {CARD}"}).status_code == 200
    services.decisions.flush()
    with Session(services.engine) as session:
        examples = session.exec(select(Example)).all()
        patterns = session.exec(select(Pattern)).all()
        decisions = session.exec(select(Decision)).all()
    assert [e.text for e in examples] == ["door code please, I'm at <address>, call <phone> or mail <email>"]
    assert examples[0].reply == "Sent the code to <email>; charged card <card>."
    assert examples[0].context == ["hi it's <phone>"]
    assert_clean([e.model_dump() for e in examples] + [p.model_dump() for p in patterns])
    assert decisions and decisions[0].text == "code? <phone> <email>"
    assert_clean([d.model_dump() for d in decisions])
    payloads = raw_payloads(services.store, [learned["example_id"]])  # type: ignore[arg-type]
    assert payloads and payloads[0][schema.EXAMPLE_ID] == learned["example_id"]
    assert_clean(payloads)
    assert recording.seen and "<phone>" in " ".join(recording.seen)
    assert_clean(recording.seen)


def test_llm_request_bodies_never_carry_pii(settings: Settings, tmp_path: Path) -> None:
    requests: list[dict[str, Any]] = []
    embedder = OpenAIEmbedder(client_for(fake_api(requests)), dim=64)
    services = build_services(settings, embedder=embedder, store=EdgeStore(tmp_path / "q", dim=64))
    try:
        from app.learning.learner import Interaction

        services.learner.learn("default", Interaction(text=TEXT, reply=REPLY, context=(f"I'm on {PHONE}",)))
        services.matcher.match("default", f"is {PHONE} on file? {EMAIL}")
        services.search.search("default", f"card {CARD}")
    finally:
        services.close()
    assert len(requests) >= 3
    assert_clean(requests)
    assert "<email>" in json.dumps(requests)


def test_live_flow_keeps_raw_text_only_on_the_message(settings: Settings, tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    services = build(settings, tmp_path, embedder, shadow=True)
    client = start(services)
    try:
        text = f"{QUESTION}, text me on {PHONE} or {EMAIL}"
        decision = deliver(client, services, text)
        assert decision is not None and decision.text == f"{QUESTION}, text me on <phone> or <email>"
        assert_clean(decision.model_dump())
        reply = message_event(f"Code is 4512, I've also emailed {EMAIL}", direction="outgoing")
        assert post_legacy(client, reply).status_code == 202
        assert services.flow.drain()
        with Session(services.engine) as session:
            stored = session.exec(select(Message).where(Message.direction == "incoming")).one()
            learned = session.exec(select(Example).where(Example.source == "operator")).one()
        assert stored.text == text and stored.customer_number == CUSTOMER  # kept for answering
        assert learned.reply == "Code is 4512, I've also emailed <email>"
        assert_clean(learned.model_dump())
    finally:
        client.__exit__(None, None, None)
        services.close()


class RefusingSender:
    """A platform that answers with an error quoting the recipient's number."""

    name = "refusing"

    def send(self, *, line_id: str, line_number: str, to_number: str, text: str) -> SendResult:
        raise SendError(f"400 invalid recipient {to_number}", retryable=False)

    def close(self) -> None:
        pass


def test_log_records_never_carry_the_customer_number(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = FakeEmbedder()
    configured = settings.model_copy(update={"shadow": False})
    services = build(configured, tmp_path, embedder, shadow=False)
    services.flow.dispatcher.sender = RefusingSender()  # type: ignore[assignment]
    client = start(services)
    try:
        with caplog.at_level(logging.INFO):
            decision = deliver(client, services, QUESTION)
            assert services.flow.drain()
        assert decision is not None and decision.decision == "auto", decision
        assert "invalid recipient <phone>" in caplog.text  # the failure was logged...
        assert CUSTOMER not in caplog.text  # ...without the number
    finally:
        client.__exit__(None, None, None)
        services.close()
