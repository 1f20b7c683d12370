"""Where one conversation ends and the next begins, and which messages are small talk.

A fixed "one hour of silence" splits slow threads and merges fast ones. Instead a thread's
limit is a multiple of its own usual gap (the geometric mean of the gaps seen so far), held
between a floor and a ceiling; a goodbye ("thanks, bye") shortens it to a few minutes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from app.models import Conversation

# After a goodbye only a quick follow-up ("oh, and ...") still belongs to the same thread.
CLOSED_SHARE_OF_MIN = 1 / 6

_CLOSING = re.compile(
    r"^(?:(?:ok(?:ay)?|k|great|perfect|awesome|cool|got it|sounds good|all good|no worries|that'?s all|"
    r"that'?s it|thanks?(?: you| u| so much| a lot)?|thx|ty|cheers|much appreciated|appreciate it|"
    r"bye|goodbye|good bye|see (?:ya|you)|have a (?:good|great|nice) (?:day|night|one)|"
    r"take care|will do|nothing else)[\s,.!:)\-]*)+$"
)
_THANKS_OR_BYE = re.compile(r"\b(?:thanks?|thx|ty|cheers|bye|goodbye|appreciate)\b")
_GREETING = re.compile(
    r"^(?:(?:hi|hii+|hey+|hello+|yo|hiya|good (?:morning|afternoon|evening)|"
    r"there|guys|team|all|folks)[\s,.!:)\-]*)+$"
)
_EMOJI_ONLY = re.compile(r"^[\W_]+$")


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text.casefold().replace("’", "'")).strip()


def is_closing(text: str) -> bool:
    """A goodbye or thanks that ends the thread ("thanks, bye!", "perfect thank you")."""
    plain = _plain(text)
    if not plain or len(plain.split()) > 8:
        return False
    if _EMOJI_ONLY.match(plain):  # a lone thumbs-up
        return True
    return bool(_CLOSING.match(plain)) and bool(_THANKS_OR_BYE.search(plain) or len(plain.split()) <= 3)


def is_greeting(text: str) -> bool:
    """Only a greeting ("hi", "hello there!"): no question to answer on its own."""
    plain = _plain(text)
    return bool(plain) and bool(_GREETING.match(plain))


@dataclass(frozen=True)
class Rhythm:
    """Bounds of the adaptive silence limit, in seconds."""

    gap_min_s: float
    gap_max_s: float
    factor: float

    def limit(self, conversation: Conversation) -> float:
        """Seconds of silence after which a message starts a new conversation."""
        if conversation.closed_at is not None:
            return self.gap_min_s * CLOSED_SHARE_OF_MIN
        if conversation.gap_count >= 2:
            usual = math.exp(conversation.gap_log_sum / conversation.gap_count)
            return min(self.gap_max_s, max(self.gap_min_s, self.factor * usual))
        # No rhythm yet: halfway between the bounds on a log scale.
        return math.sqrt(self.gap_min_s * self.gap_max_s)


def log_gap(seconds: float) -> float:
    """A gap's contribution to the rhythm (a second at least, so bursts do not dominate)."""
    return math.log(max(seconds, 1.0))
