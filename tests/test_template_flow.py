"""Templates in the live flow (filled automatic replies, a person when a value is missing) and the API."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.config import Settings
from app.db import session_scope
from app.models import Outbound, Pattern, PhoneLine
from app.services import Services
from tests.conftest import FakeEmbedder
from tests.test_live_flow import DOOR, QUESTION, build, deliver, sent, start


def set_response(services: Services, old: str, new: str) -> None:
    """What a pattern edit does: the reply in SQL and in the matcher's memory."""
    with session_scope(services.engine) as session:
        pattern = session.exec(select(Pattern).where(Pattern.response_text == old)).one()
        pattern.response_text = new
        pattern_id = pattern.id
    services.memories.get("default").patterns[pattern_id].response_text = new  # type: ignore[index]


def sent_soon(services: Services) -> list[str]:
    """What was sent, once the worker thread (which may hold a claimed send) has finished it."""
    deadline = time.monotonic() + 10
    while not sent(services) and time.monotonic() < deadline:
        time.sleep(0.02)
    return sent(services)


def run_live(settings: Settings, tmp_path: Path) -> tuple[TestClient, Services]:
    services = build(settings, tmp_path, FakeEmbedder(), shadow=False)
    return start(services), services


def test_automatic_reply_is_sent_with_its_placeholders_filled(settings: Settings, tmp_path: Path) -> None:
    client, services = run_live(settings, tmp_path)
    try:
        put = client.put("/api/templates/values", json={"values": {"booking_link": "https://book.example/b"}})
        assert put.status_code == 200, put.text
        with session_scope(services.engine) as session:
            session.exec(select(PhoneLine)).one().name = "Bedford"
        set_response(services, DOOR, "{business_name}: code 4512 at {location}. Book: {booking_link}")
        decision = deliver(client, services, QUESTION)
        assert decision is not None and decision.decision == "auto"
        assert sent_soon(services) == ["Default: code 4512 at Bedford. Book: https://book.example/b"]
    finally:
        client.__exit__(None, None, None)
        services.close()


def test_missing_value_turns_the_automatic_reply_into_a_draft_for_a_person(
    settings: Settings, tmp_path: Path
) -> None:
    client, services = run_live(settings, tmp_path)
    try:
        set_response(services, DOOR, "Hi {customer_first_name}, the code is 4512")
        decision = deliver(client, services, QUESTION)
        assert decision is not None and decision.decision == "suggest"
        assert "customer_first_name" in decision.reason
        assert sent(services) == []
        with Session(services.engine) as session:
            assert session.exec(select(Outbound)).all() == []
    finally:
        client.__exit__(None, None, None)
        services.close()


def test_optional_placeholder_without_a_value_is_left_out(settings: Settings, tmp_path: Path) -> None:
    client, services = run_live(settings, tmp_path)
    try:
        set_response(services, DOOR, "Hi {customer_first_name?}, the code is 4512")
        decision = deliver(client, services, QUESTION)
        assert decision is not None and decision.decision == "auto", decision
        assert sent_soon(services) == ["Hi, the code is 4512"]
    finally:
        client.__exit__(None, None, None)
        services.close()


def test_template_api_validates_and_stores_values(settings: Settings, tmp_path: Path) -> None:
    client, services = run_live(settings, tmp_path)
    try:
        bad = client.post("/api/templates/validate", json={"text": "Hi {0.__class__}"})
        assert bad.status_code == 422 and "{0.__class__}" in bad.json()["detail"]
        unknown = client.post("/api/templates/validate", json={"text": "Hi {first}"})
        assert unknown.status_code == 422 and "{first}" in unknown.json()["detail"]
        good = client.post("/api/templates/validate", json={"text": "Hi {customer_first_name?}"})
        assert good.json() == {"placeholders": ["customer_first_name"]}
        assert "booking_link" in client.get("/api/templates/placeholders").json()["tenant_values"]
        refused = client.put("/api/templates/values", json={"values": {"location": "x"}})
        assert refused.status_code == 422 and "values.location" in refused.json()["detail"]
        assert client.put("/api/templates/values", json={"values": {"website": 3}}).status_code == 422
        assert client.put(
            "/api/templates/values", json={"values": {"website": "https://x.example"}}
        ).json() == {"website": "https://x.example"}
        assert client.put("/api/templates/values", json={"values": {"website": None}}).json() == {}
        assert client.get("/api/templates/values").json() == {}
    finally:
        client.__exit__(None, None, None)
        services.close()
