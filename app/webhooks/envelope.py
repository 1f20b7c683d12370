"""The two envelopes OpenPhone posts, read into one shape.

- legacy: `{"id": "EV...", "object": "event", "type", "createdAt", "data": {"object": {message}}}`;
- Standard Webhooks style: `{"type", "timestamp", "data": {"resource": {message}, "context": {...}}}`
  with the event id in the `webhook-id` header.

Every missing or mistyped field raises InvalidInput naming its path, so the caller can answer
a precise 4xx before anything is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.errors import InvalidInput

MESSAGE_EVENTS = frozenset({"message.received", "message.delivered"})
_PHONE = re.compile(r"^\+?[0-9A-Za-z()\-. ]{3,31}$")


@dataclass(frozen=True)
class MessageEvent:
    """One SMS as the platform describes it."""

    message_id: str
    direction: str  # incoming | outgoing
    from_number: str
    to_number: str
    text: str
    created_at: datetime
    phone_number_id: str | None
    user_id: str | None
    media: int

    @property
    def customer_number(self) -> str:
        """The other party: the sender of an incoming message, the recipient of an outgoing one."""
        return self.from_number if self.direction == "incoming" else self.to_number

    @property
    def line_number(self) -> str:
        """Our line's number."""
        return self.to_number if self.direction == "incoming" else self.from_number


@dataclass(frozen=True)
class Envelope:
    """A delivery: its event id and type, and the message when it carries one."""

    event_id: str
    event_type: str
    message: MessageEvent | None


def _field(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj or obj[key] is None:
        raise InvalidInput(f"{path}.{key}", "is missing")
    return obj[key]


def _string(obj: dict[str, Any], key: str, path: str, max_len: int = 128) -> str:
    value = _field(obj, key, path)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{path}.{key}", "must be a non-empty string")
    if len(value) > max_len:
        raise InvalidInput(f"{path}.{key}", f"is longer than {max_len} characters")
    return value.strip()


def _object(obj: Any, key: str, path: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InvalidInput(path, "must be an object")
    value = _field(obj, key, path)
    if not isinstance(value, dict):
        raise InvalidInput(f"{path}.{key}", "must be an object")
    return value


def _timestamp(value: Any, path: str) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(path, "is not an ISO 8601 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise InvalidInput(path, "must be a time (ISO 8601 or epoch)")


def _phone(obj: dict[str, Any], key: str, path: str) -> str:
    value = _field(obj, key, path)
    if isinstance(value, list):  # newer payloads list recipients; an SMS thread has one
        if len(value) != 1:
            raise InvalidInput(f"{path}.{key}", "must name exactly one number")
        value = value[0]
    if not isinstance(value, str) or not _PHONE.match(value.strip()):
        raise InvalidInput(f"{path}.{key}", "must be a phone number")
    return value.strip()


def parse_message(obj: dict[str, Any], path: str) -> MessageEvent:
    """A message object of either envelope."""
    direction = _string(obj, "direction", path)
    if direction not in ("incoming", "outgoing"):
        raise InvalidInput(f"{path}.direction", "must be 'incoming' or 'outgoing'")
    text = obj.get("body", obj.get("text"))
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InvalidInput(f"{path}.body", "must be a string")
    media = obj.get("media") or []
    created = obj.get("createdAt", obj.get("created_at"))
    if created is None:
        raise InvalidInput(f"{path}.createdAt", "is missing")
    line_id = obj.get("phoneNumberId")
    user_id = obj.get("userId")
    return MessageEvent(
        message_id=_string(obj, "id", path),
        direction=direction,
        from_number=_phone(obj, "from", path),
        to_number=_phone(obj, "to", path),
        text=text,
        created_at=_timestamp(created, f"{path}.createdAt"),
        phone_number_id=line_id if isinstance(line_id, str) and line_id else None,
        user_id=user_id if isinstance(user_id, str) and user_id else None,
        media=len(media) if isinstance(media, list) else 0,
    )


def parse_envelope(payload: Any, header_event_id: str | None) -> Envelope:
    """Read a delivery of either style; InvalidInput names the first bad field."""
    if not isinstance(payload, dict):
        raise InvalidInput("body", "must be a JSON object")
    event_type = _string(payload, "type", "body", 64)
    data = _object(payload, "data", "body")
    event_id = header_event_id or payload.get("id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 128:
        raise InvalidInput("body.id", "is missing (and no webhook-id header was sent)")
    if event_type not in MESSAGE_EVENTS:
        return Envelope(event_id.strip(), event_type, None)
    if "object" in data:
        message = parse_message(_object(data, "object", "body.data"), "body.data.object")
    else:
        message = parse_message(_object(data, "resource", "body.data"), "body.data.resource")
    return Envelope(event_id.strip(), event_type, message)
