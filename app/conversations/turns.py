"""Customer turns: the burst of messages an answer responds to, and the context before it.

"hi" ... "at bedford" ... "my simulator froze" sent within a short window is one turn: it is
matched as one text, and an operator reply after it is learned against all of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from app.conversations.boundaries import is_greeting
from app.conversations.threads import aware
from app.models import Message

CONTEXT_MESSAGES = 4


@dataclass
class Turn:
    """A customer turn (oldest first) and the texts that came before it."""

    messages: list[Message]
    context: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What is matched: the turn's texts, greetings dropped when there is more to it."""
        texts = [m.text for m in self.messages]
        content = [t for t in texts if not is_greeting(t)]
        return " ".join(content or texts)

    @property
    def message_ids(self) -> list[int]:
        return [m.id for m in self.messages if m.id is not None]


def thread(session: Session, tenant: str, conversation_id: int) -> list[Message]:
    """A conversation's messages in the order they were sent."""
    rows = session.exec(
        select(Message)
        .where(Message.tenant == tenant, Message.conversation_id == conversation_id)
        .order_by(col(Message.sent_at), col(Message.id))
    ).all()
    return list(rows)


def _gap(a: Message, b: Message) -> float:
    assert a.sent_at is not None and b.sent_at is not None
    return (aware(b.sent_at) - aware(a.sent_at)).total_seconds()


def _burst_ending_at(messages: list[Message], end: int, burst_s: float) -> Turn:
    start = end
    while (
        start > 0
        and messages[start - 1].direction == "incoming"
        and _gap(messages[start - 1], messages[start]) <= burst_s
    ):
        start -= 1
    context = [m.text for m in messages[max(0, start - CONTEXT_MESSAGES) : start]]
    return Turn(messages[start : end + 1], context)


def customer_turn(messages: list[Message], message_id: int, burst_s: float) -> tuple[Turn, bool, bool]:
    """The turn ending at a customer message; also (superseded, answered).

    Superseded: a later message of the same burst exists, so the decision belongs to that one.
    Answered: someone already replied after it, so there is nothing left to decide.
    """
    index = next(i for i, m in enumerate(messages) if m.id == message_id)
    later = messages[index + 1 :]
    answered = any(m.direction == "outgoing" for m in later)
    superseded = (
        bool(later) and later[0].direction == "incoming" and _gap(messages[index], later[0]) <= burst_s
    )
    return _burst_ending_at(messages, index, burst_s), superseded, answered


def turn_answered_by(messages: list[Message], reply_id: int, burst_s: float) -> Turn | None:
    """The customer turn an outgoing message answers: the burst right before it, if any.

    None when nothing from the customer precedes it yet (it may still arrive late) or when
    another outgoing message sits in between (a follow-up, not an answer to the turn).
    """
    index = next(i for i, m in enumerate(messages) if m.id == reply_id)
    if index == 0 or messages[index - 1].direction != "incoming":
        return None
    return _burst_ending_at(messages, index - 1, burst_s)


def has_earlier_outgoing(messages: list[Message], reply_id: int) -> bool:
    """A follow-up: the message right before this outgoing one is outgoing too."""
    index = next(i for i, m in enumerate(messages) if m.id == reply_id)
    return index > 0 and messages[index - 1].direction == "outgoing"
