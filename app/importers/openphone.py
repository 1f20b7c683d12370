"""`pls import openphone`: an OpenPhone message export, rebuilt into answered customer turns.

Input: JSONL of message objects (as in the webhook's `data.object`; a whole webhook event is
unwrapped) or CSV with the same columns: id, object, from, to, direction, body (or text),
status, createdAt, userId, phoneNumberId, conversationId.

Conversations are rebuilt here in memory from timestamps and directions (`pairing.py`): the
live service files messages one by one into stored conversations (app/conversations/), but a
bulk import sees the whole history at once and needs no database round trip per message.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.importers.pairing import Message, answered_turns
from app.importers.records import Record

KIND = "openphone"
DIRECTIONS = ("incoming", "outgoing")


class LineError(ValueError):
    """A message line that cannot be used; the text says which field and why."""


def openphone_records(path: Path, data: bytes, since: datetime | None = None) -> list[Record]:
    """Bad lines first (numbered by line), then every answered customer turn, in a stable order."""
    messages: list[Message] = []
    records: list[Record] = []
    for number, row in _rows(path, data):
        location = f"{path}:{number}"
        if isinstance(row, LineError):
            records.append(Record(len(records) + 1, location, error=str(row)))
            continue
        try:
            message = _message(row, number)
        except LineError as error:
            records.append(Record(len(records) + 1, location, error=str(error)))
            continue
        if message is None or (since is not None and message.at < since):
            continue
        messages.append(message)
    for turn, line in answered_turns(messages):
        records.append(Record(len(records) + 1, f"{path}:{line}", turn=turn))
    return records


def _rows(path: Path, data: bytes) -> list[tuple[int, dict[str, Any] | LineError]]:
    """(line number, object or the reason it is unreadable) for every non-blank row."""
    if path.suffix.lower() == ".csv" or not data.lstrip().startswith(b"{"):
        return _csv_rows(data)
    rows: list[tuple[int, dict[str, Any] | LineError]] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            rows.append((number, LineError(f"invalid UTF-8 at byte {error.start}")))
            continue
        except json.JSONDecodeError as error:
            rows.append((number, LineError(f"invalid JSON: {error.msg} (column {error.colno})")))
            continue
        if isinstance(obj, dict) and isinstance(obj.get("data"), dict) and "object" in obj["data"]:
            obj = obj["data"]["object"]  # a whole webhook event
        if not isinstance(obj, dict):
            rows.append((number, LineError("expected a JSON object")))
            continue
        rows.append((number, obj))
    return rows


def _csv_rows(data: bytes) -> list[tuple[int, dict[str, Any] | LineError]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return [(1, LineError(f"invalid UTF-8 at byte {error.start}"))]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, Any] | LineError]] = []
    for row in reader:
        # The reader's line number is where the row ends; quoted newlines make that the best anchor.
        rows.append((reader.line_num, dict(row)))
    return rows


def _message(row: dict[str, Any], line: int) -> Message | None:
    """A message from one row; None for rows that carry no text (media only, other objects)."""
    if row.get("object", "message") not in ("message", None, ""):
        return None
    message_id = _required(row, "id")
    direction = _required(row, "direction")
    if direction not in DIRECTIONS:
        raise LineError(f"field 'direction' must be incoming or outgoing, not {direction!r}")
    at = _timestamp(_required(row, "createdAt"))
    body = row.get("body", row.get("text"))
    if body is None or (isinstance(body, str) and not body.strip()):
        return None
    if not isinstance(body, str):
        raise LineError("field 'body' must be a string")
    sender = _required(row, "from")
    recipients = _recipients(row.get("to"))
    if not recipients:
        raise LineError("field 'to' must name at least one number")
    incoming = direction == "incoming"
    customer = sender if incoming else recipients[0]
    own_number = recipients[0] if incoming else sender
    line_id = str(row.get("phoneNumberId") or own_number)
    return Message(
        id=message_id,
        at=at,
        incoming=incoming,
        body=body,
        key=(line_id, customer),
        line=line,
    )


def _required(row: dict[str, Any], field: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise LineError(f"field '{field}' must be a non-empty string")
    return value.strip()


def _recipients(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if v]
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.startswith("["):  # a CSV cell holding the JSON list
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                raise LineError("field 'to' is not a valid JSON list") from None
            return [str(v) for v in parsed if v] if isinstance(parsed, list) else []
        return [part.strip() for part in text.split(",") if part.strip()]
    return []


def _timestamp(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LineError(f"field 'createdAt' is not an ISO 8601 time: {value!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)
