"""Helpers for live-flow tests: OpenPhone payloads, signing, a confidence model with known behaviour."""

from __future__ import annotations

import base64
import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.learning.calibration import Calibrator
from app.learning.model import ConfidenceModel
from app.learning.scoring import Thresholds
from app.models import Pattern
from app.services import Services
from app.webhooks.signature import sign_legacy, sign_standard

SECRET = "whsec_" + base64.b64encode(b"pls-test-signing-secret-0123456789").decode()
OTHER_SECRET = base64.b64encode(b"a-different-secret-for-another-line").decode()
LINE_ID, LINE_NUMBER = "PNbedford01", "+15550001000"
CUSTOMER = "+15557654321"
_ids = itertools.count(1)


def now() -> datetime:
    return datetime.now(UTC)


def message_event(
    body: str,
    *,
    direction: str = "incoming",
    customer: str = CUSTOMER,
    at: datetime | None = None,
    message_id: str | None = None,
    event_id: str | None = None,
    line_id: str | None = LINE_ID,
    line_number: str = LINE_NUMBER,
) -> dict[str, Any]:
    """A legacy-envelope message.received / message.delivered event."""
    n = next(_ids)
    incoming = direction == "incoming"
    created = (at or now()).isoformat().replace("+00:00", "Z")
    return {
        "id": event_id or f"EV{n:08d}",
        "object": "event",
        "apiVersion": "v2",
        "createdAt": created,
        "type": "message.received" if incoming else "message.delivered",
        "data": {
            "object": {
                "id": message_id or f"AC{n:08d}",
                "object": "message",
                "from": customer if incoming else line_number,
                "to": line_number if incoming else customer,
                "direction": direction,
                "body": body,
                "media": [],
                "status": "received" if incoming else "delivered",
                "createdAt": created,
                "userId": None if incoming else "USoperator1",
                "phoneNumberId": line_id,
                "conversationId": "CN0001",
            }
        },
    }


def post_legacy(
    client: TestClient, payload: Any, secret: str = SECRET, ts_ms: int | None = None, raw: bytes | None = None
) -> Any:
    """POST a delivery signed the legacy way."""
    body = raw if raw is not None else json.dumps(payload).encode()
    stamp = ts_ms if ts_ms is not None else int(time.time() * 1000)
    return client.post(
        "/webhooks/openphone",
        content=body,
        headers={"content-type": "application/json", "openphone-signature": sign_legacy(body, secret, stamp)},
    )


def post_standard(client: TestClient, payload: Any, msg_id: str, secret: str = SECRET) -> Any:
    """POST a delivery signed the Standard Webhooks way."""
    body = json.dumps(payload).encode()
    headers = sign_standard(body, secret, msg_id, int(time.time()))
    return client.post(
        "/webhooks/openphone", content=body, headers={"content-type": "application/json", **headers}
    )


def add_line(client: TestClient, tenant: str = "default", **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/lines", json={"tenant": tenant, "external_id": LINE_ID, "number": LINE_NUMBER, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def install_model(
    services: Services, tenant: str = "default", suggest: float = 0.6, auto: float = 0.9
) -> None:
    """A confidence model that trusts similarity alone: sigmoid(12 * sim_best - 6).

    Real calibration needs far more data than a test holds; this keeps decisions predictable
    while the rest of the pipeline (kNN, scoring, thresholds, modes) runs for real.
    """
    calibrator = Calibrator(("sim_best",), np.zeros(1), np.ones(1), np.array([12.0]), -6.0)
    services.memories.get(tenant).model = ConfidenceModel(calibrator, Thresholds(suggest, auto))


def pattern_for(services: Services, reply: str, tenant: str = "default") -> Pattern:
    with Session(services.engine) as session:
        return session.exec(
            select(Pattern).where(Pattern.tenant == tenant, Pattern.response_text == reply)
        ).one()


def later(seconds: float) -> datetime:
    return now() + timedelta(seconds=seconds)
