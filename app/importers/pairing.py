"""Threads and answered turns from a flat list of messages (for bulk imports, all in memory).

Per (phone line, customer): messages in time order; a silence longer than `THREAD_GAP` starts
a new thread. Consecutive messages in one direction are one turn ("hi" + "at bedford" + "door
code?"). Each customer turn followed by an operator turn within `REPLY_WINDOW` is one learnable
turn: the customer's text, the few messages before it as context, the operator's reply, and how
the customer took it (their next turns, and whether the thread ended with them still waiting).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.importers.records import Turn

THREAD_GAP = timedelta(hours=6)
REPLY_WINDOW = timedelta(hours=12)
CONTEXT_MESSAGES = 4
FOLLOWUPS = 2

# A last customer word that needs no answer: the thread ended well.
_CLOSING = re.compile(
    r"^\s*((ok(ay)?|k|great|perfect|awesome|cool|got it|sounds good|all good|no worries|thanks?( you| u| so much| a lot| again)?|"
    r"thx|ty|cheers|bye|see (ya|you)|will do|done|it worked|that worked|works now)[\s,.!:)\-]*)+\s*$|^[\W_]+$",
    re.I,
)


@dataclass(frozen=True)
class Message:
    """One text message of an export, reduced to what threading needs."""

    id: str
    at: datetime
    incoming: bool
    body: str
    key: tuple[str, str]  # (phone line, customer number)
    line: int  # where it was in the file, for messages about it


@dataclass(frozen=True)
class _Block:
    """Consecutive messages of one direction."""

    incoming: bool
    messages: tuple[Message, ...]

    @property
    def text(self) -> str:
        return "\n".join(m.body.strip() for m in self.messages)

    @property
    def start(self) -> datetime:
        return self.messages[0].at

    @property
    def end(self) -> datetime:
        return self.messages[-1].at


def is_closing(text: str) -> bool:
    """A thanks/ok/goodbye that needs no answer."""
    return bool(_CLOSING.match(text))


def threads(messages: Sequence[Message]) -> list[list[Message]]:
    """Messages split into threads: per line and customer, cut at long silences."""
    by_key: dict[tuple[str, str], list[Message]] = defaultdict(list)
    for message in messages:
        by_key[message.key].append(message)
    out: list[list[Message]] = []
    for key in sorted(by_key):
        ordered = sorted({m.id: m for m in by_key[key]}.values(), key=lambda m: (m.at, m.id))
        current: list[Message] = []
        for message in ordered:
            if current and message.at - current[-1].at > THREAD_GAP:
                out.append(current)
                current = []
            current.append(message)
        if current:
            out.append(current)
    out.sort(key=lambda thread: (thread[0].at, thread[0].id))
    return out


def _blocks(thread: Sequence[Message]) -> list[_Block]:
    blocks: list[_Block] = []
    for message in thread:
        if blocks and blocks[-1].incoming == message.incoming:
            blocks[-1] = _Block(message.incoming, blocks[-1].messages + (message,))
        else:
            blocks.append(_Block(message.incoming, (message,)))
    return blocks


def answered_turns(messages: Sequence[Message]) -> Iterator[tuple[Turn, int]]:
    """Every customer turn with the operator reply that answered it, and its first line."""
    for thread in threads(messages):
        blocks = _blocks(thread)
        last_customer = max((i for i, b in enumerate(blocks) if b.incoming), default=-1)
        # Ended unresolved: the customer spoke last and it was not a simple thanks or goodbye.
        open_end = last_customer == len(blocks) - 1 and not is_closing(blocks[-1].text)
        answered = [
            i
            for i in range(len(blocks) - 1)
            if blocks[i].incoming and blocks[i + 1].start - blocks[i].end <= REPLY_WINDOW
        ]
        for i in answered:
            customer, operator = blocks[i], blocks[i + 1]
            before = [m.body.strip() for b in blocks[:i] for m in b.messages]
            # A thanks for the last answer opening this turn belongs to the context, not the question.
            asked = list(customer.messages)
            while len(asked) > 1 and is_closing(asked[0].body):
                before.append(asked.pop(0).body.strip())
            customer = _Block(True, tuple(asked))
            before = before[-CONTEXT_MESSAGES:]
            followups = tuple(b.text for b in blocks[i + 2 :] if b.incoming)[:FOLLOWUPS]
            final = i == answered[-1]
            yield (
                Turn(
                    text=customer.text,
                    reply=operator.text,
                    context=tuple(before),
                    followups=followups,
                    resolved=False if final and open_end else None,
                    occurred_at=customer.end,
                ),
                customer.messages[0].line,
            )
