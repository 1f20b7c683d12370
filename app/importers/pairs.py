"""`pls import pairs`: the `pls eval` training format, one `{"text", "reply"}` object a line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from app.evaluation.dataset import DatasetError, parse_pair_line
from app.importers.records import Record, Turn

KIND = "pairs"


def pair_records(path: Path, data: bytes, max_chars: int) -> Iterator[Record]:
    """Every non-blank line as a record numbered by its line; a bad line is an error record."""
    for number, line in enumerate(data.splitlines(), start=1):
        location = f"{path}:{number}"
        try:
            pair = parse_pair_line(path, number, line, require_reply=True, max_chars=max_chars)
        except DatasetError as error:
            yield Record(number, location, error=error.reason)
            continue
        if pair is not None and pair.reply is not None:
            yield Record(number, location, turn=Turn(text=pair.text, reply=pair.reply))


def line_count(data: bytes) -> int:
    """Lines in a file (the last one may lack its newline)."""
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
