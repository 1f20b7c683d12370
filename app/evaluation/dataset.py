"""Reading `pls eval` / `pls import pairs` JSONL files, with errors that name file, line and field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.errors import PLSError


class DatasetError(PLSError):
    """A line of an input file is unusable; the message names the file, the line and why."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class Pair:
    """One line: a customer message, the reply it got (None = out of scope), a scoring label."""

    text: str
    reply: str | None
    label: str | None
    line: int


def read_pairs(path: Path, *, require_reply: bool, max_chars: int = 4000) -> list[Pair]:
    """Every line of `path` as a Pair; DatasetError on the first bad line."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DatasetError(path, 0, f"cannot read file: {error.strerror}") from error
    pairs: list[Pair] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        pair = parse_pair_line(path, number, line, require_reply=require_reply, max_chars=max_chars)
        if pair is not None:
            pairs.append(pair)
    if not pairs:
        raise DatasetError(path, 0, "no examples in file")
    return pairs


def parse_pair_line(
    path: Path, number: int, line: bytes, *, require_reply: bool, max_chars: int = 4000
) -> Pair | None:
    """One raw line as a Pair (None for a blank line); DatasetError when it is unusable."""
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DatasetError(path, number, f"invalid UTF-8 at byte {error.start}") from error
    if not decoded.strip():
        return None
    return _parse_line(path, number, decoded, require_reply, max_chars)


def _parse_line(path: Path, number: int, line: str, require_reply: bool, max_chars: int) -> Pair:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as error:
        raise DatasetError(path, number, f"invalid JSON: {error.msg} (column {error.colno})") from error
    if not isinstance(obj, dict):
        raise DatasetError(path, number, "expected a JSON object")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(path, number, "field 'text' must be a non-empty string")
    if len(text) > max_chars:
        raise DatasetError(path, number, f"field 'text' is longer than {max_chars} characters")
    reply = obj.get("reply")
    if reply is None and require_reply:
        raise DatasetError(path, number, "field 'reply' is required in a training file")
    if reply is not None and (not isinstance(reply, str) or not reply.strip()):
        raise DatasetError(path, number, "field 'reply' must be a non-empty string or null")
    if reply is not None and len(reply) > max_chars:
        raise DatasetError(path, number, f"field 'reply' is longer than {max_chars} characters")
    label = obj.get("label")
    if label is not None and not isinstance(label, str):
        raise DatasetError(path, number, "field 'label' must be a string or null")
    return Pair(text=text, reply=reply, label=label, line=number)
