"""Sending: OpenPhone's API against a fake server on loopback, retries, hand-off, never twice."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.db import session_scope
from app.flow.dispatch import Dispatcher
from app.flow.live import LiveHub
from app.flow.worker import rhythm_from
from app.models import Conversation, Message, Outbound, PhoneLine, utcnow
from app.sending.base import SendError
from app.sending.openphone import OpenPhoneSender


class FakeOpenPhone:
    """A local HTTP server answering POST /v1/messages from a script of (status, body)."""

    def __init__(self, script: list[tuple[int, dict[str, Any]]]) -> None:
        self.script = list(script)
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fake.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status, payload = fake.script.pop(0) if fake.script else (202, {"data": {"id": "ACdefault"}})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeOpenPhone]:
    server = FakeOpenPhone([])
    yield server
    server.close()


def test_openphone_sender_posts_the_message_with_the_api_key(fake: FakeOpenPhone) -> None:
    fake.script = [(202, {"data": {"id": "AC123", "status": "queued"}})]
    sender = OpenPhoneSender("key-abc", fake.url)
    result = sender.send(
        line_id="PN1", line_number="+15550001000", to_number="+15557654321", text="Code 4512"
    )
    sender.close()
    headers, body = fake.requests[0]
    assert result.external_id == "AC123"
    assert headers["authorization"] == "key-abc"
    assert body == {"content": "Code 4512", "from": "PN1", "to": ["+15557654321"]}


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (503, True), (400, False), (500, False)])
def test_openphone_errors_are_retryable_only_when_nothing_went_out(
    fake: FakeOpenPhone, status: int, retryable: bool
) -> None:
    fake.script = [(status, {"message": "nope"})]
    sender = OpenPhoneSender("key", fake.url)
    with pytest.raises(SendError) as info:
        sender.send(line_id="PN1", line_number="+1", to_number="+2", text="x")
    sender.close()
    assert info.value.retryable is retryable


def test_unreachable_platform_is_retryable() -> None:
    sender = OpenPhoneSender("key", "http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(SendError) as info:
        sender.send(line_id="PN1", line_number="+1", to_number="+2", text="x")
    assert info.value.retryable


def queue_reply(engine: Engine, text: str = "The door code is 4512.") -> int:
    with session_scope(engine) as session:
        line = PhoneLine(tenant="default", external_id="PN1", number="+15550001000")
        session.add(line)
        session.flush()
        conv = Conversation(
            tenant="default",
            line_id=line.id,  # type: ignore[arg-type]
            customer_number="+15557654321",
            started_at=utcnow(),
            last_message_at=utcnow(),
        )
        session.add(conv)
        session.flush()
        msg = Message(
            tenant="default",
            direction="incoming",
            text="code?",
            text_hash="h",
            conversation_id=conv.id,
            line_id=line.id,
        )
        session.add(msg)
        session.flush()
        out = Outbound(
            tenant="default",
            decision_id="d1",
            message_id=msg.id,  # type: ignore[arg-type]
            conversation_id=conv.id,  # type: ignore[arg-type]
            line_id=line.id,  # type: ignore[arg-type]
            to_number="+15557654321",
            text=text,
            sender="pending",
            state="queued",
        )
        session.add(out)
        session.flush()
        assert out.id is not None
        return out.id


def dispatcher(
    engine: Engine, fake: FakeOpenPhone, settings: Settings, hub: LiveHub | None = None
) -> Dispatcher:
    configured = settings.model_copy(update={"send_retry_s": 0.0, "send_max_attempts": 3})
    return Dispatcher(
        engine, OpenPhoneSender("key", fake.url), hub or LiveHub(), configured, rhythm_from(configured)
    )


def outbound(engine: Engine, outbound_id: int) -> Outbound:
    with Session(engine) as session:
        row = session.get(Outbound, outbound_id)
        assert row is not None
        return row


def test_failed_send_is_retried_then_sent_once(
    engine: Engine, fake: FakeOpenPhone, settings: Settings
) -> None:
    fake.script = [(503, {}), (202, {"data": {"id": "ACok"}})]
    d = dispatcher(engine, fake, settings)
    out_id = queue_reply(engine)
    assert d.send(out_id) == "queued"
    assert d.due() == [out_id]
    assert d.send(out_id) == "sent"
    assert d.send(out_id) is None  # already sent: never twice
    row = outbound(engine, out_id)
    assert (row.state, row.attempts, row.external_id) == ("sent", 2, "ACok")
    assert len(fake.requests) == 2
    with Session(engine) as session:
        own = session.exec(select(Message).where(Message.author == "pls")).one()
    assert own.external_id == "ACok" and own.state == "own"


def test_send_that_keeps_failing_is_handed_to_a_human(
    engine: Engine, fake: FakeOpenPhone, settings: Settings
) -> None:
    fake.script = [(503, {})] * 5
    d = dispatcher(engine, fake, settings)
    out_id = queue_reply(engine)
    states = [d.send(out_id) for _ in range(3)]
    assert states == ["queued", "queued", "handed_off"]
    assert d.send(out_id) is None and len(fake.requests) == 3
    assert "503" in (outbound(engine, out_id).last_error or "")


def test_send_with_unknown_outcome_is_not_retried(
    engine: Engine, fake: FakeOpenPhone, settings: Settings
) -> None:
    fake.script = [(500, {"message": "internal"})]
    d = dispatcher(engine, fake, settings)
    out_id = queue_reply(engine)
    assert d.send(out_id) == "handed_off"
    assert d.due() == [] and len(fake.requests) == 1


def test_send_in_flight_at_a_restart_goes_to_a_human(
    engine: Engine, fake: FakeOpenPhone, settings: Settings
) -> None:
    d = dispatcher(engine, fake, settings)
    out_id = queue_reply(engine)
    with session_scope(engine) as session:
        row = session.get(Outbound, out_id)
        assert row is not None
        row.state = "sending"
    assert d.recover() == 1
    assert outbound(engine, out_id).state == "handed_off" and fake.requests == []
