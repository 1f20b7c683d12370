"""A sender that sends nothing: it records what would have gone out (demos, staging)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from app.sending.base import Sender, SendResult


@dataclass(frozen=True)
class DrySend:
    line_id: str
    line_number: str
    to_number: str
    text: str


class DryRunSender(Sender):
    """Keeps every would-be message in memory and hands back a made-up id."""

    name = "dry-run"

    def __init__(self) -> None:
        self.sent: list[DrySend] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, *, line_id: str, line_number: str, to_number: str, text: str) -> SendResult:
        with self._lock:
            self.sent.append(DrySend(line_id, line_number, to_number, text))
            return SendResult(f"dry-run-{next(self._ids)}")
