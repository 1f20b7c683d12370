"""What every importer produces: numbered records, each a learnable turn or a reason it is not."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Turn:
    """A customer message (with what came before) and the operator reply that answered it."""

    text: str
    reply: str
    context: tuple[str, ...] = ()
    # The customer's next turns in the thread: how they took the reply.
    followups: tuple[str, ...] = ()
    # False when the thread ended with the customer's problem still open; None = unknown.
    resolved: bool | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Record:
    """One unit of an import, numbered from 1 so a resumed run can skip what was committed.

    `location` names where it came from ("file.jsonl:12"); exactly one of `turn` and `error`
    is set, except for a record that is skipped on purpose (`skipped`, e.g. a media-only message).
    """

    position: int
    location: str
    turn: Turn | None = None
    error: str | None = None
    skipped: str | None = field(default=None)
