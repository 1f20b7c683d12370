"""Quality of a learned interaction: a 0-1 score with the reasons that lowered it.

A history holds replies nobody should copy: "ok", a reply that left the customer asking "what?",
a thread that ended with the problem unsolved, someone testing the line, a rude reply. Each sign
multiplies the score by a penalty; below the tenant's threshold (`PLS_VOID_BELOW`) the example
is stored as voided and never takes part in matching.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Each reason's penalty. A single strong sign (test, profanity, a bare "ok", confusion) is enough
# to void at the default threshold of 0.5; an unresolved thread alone lands just below it too,
# because a reply after which the customer still had the problem is not one to repeat.
PENALTIES: dict[str, float] = {
    "test message": 0.1,
    "profanity in reply": 0.2,
    "reply too short to be an answer": 0.3,
    "reply confused the customer": 0.4,
    "thread unresolved": 0.45,
    "profanity in message": 0.85,
}

_WORD = re.compile(r"[\w']+")
# A fact makes even a short reply an answer: "4512", "$45", "7am", a link.
_FACT = re.compile(r"\d|https?://|\w+\.\w{2,}/|@")
_TEST = re.compile(r"^\s*(test(ing)?(\s*\d+)*|asdf+|qwerty|hello\s+world|ping)\s*[.!]*\s*$", re.I)
_PROFANITY = re.compile(
    r"\b(fuck\w*|shit\w*|bullshit|asshole|bitch\w*|bastard|dick(head)?|crap|damn|wtf|stfu|piss(ed)?\s+off)\b",
    re.I,
)
_CONFUSED = re.compile(
    r"^\s*(what\??|huh\??|\?+|what do you mean.*|i don'?t understand.*|that'?s not what i asked.*|"
    r"i didn'?t ask.*|wrong (answer|location|code).*|that doesn'?t (help|make sense).*|sorry\?|come again\??|"
    r"what are you talking about.*|not what i (asked|meant).*)\s*$",
    re.I,
)
_UNRESOLVED = re.compile(
    r"\b(still (not|doesn'?t|don'?t|isn'?t|won'?t|can'?t|no)|(doesn'?t|didn'?t|does not|did not) work|"
    r"not working|never mind|forget it|useless|no one (answered|helped)|nobody (answered|helped)|"
    r"ridiculous|unacceptable|waste of)\b",
    re.I,
)


@dataclass(frozen=True)
class Quality:
    """A score in [0, 1] and why it is below 1 (empty when nothing was wrong)."""

    score: float
    reasons: tuple[str, ...] = ()

    def voided(self, threshold: float) -> bool:
        """Whether an example of this quality must stay out of matching."""
        return self.score < threshold

    @property
    def reason(self) -> str | None:
        """The reasons as one line (what `Example.void_reason` stores)."""
        return "; ".join(self.reasons) or None


def is_test_message(text: str) -> bool:
    """A message someone sent to try the line, not a customer's question."""
    return bool(_TEST.match(text))


def has_profanity(text: str) -> bool:
    """Swearing (whole words only, so 'scrap' or 'Dickens' pass)."""
    return bool(_PROFANITY.search(text))


def is_confused(text: str) -> bool:
    """A customer turn that says the previous reply did not make sense to them."""
    return bool(_CONFUSED.match(text))


def sounds_unresolved(text: str) -> bool:
    """A customer turn saying the problem persists or they gave up."""
    return bool(_UNRESOLVED.search(text))


def too_short(reply: str) -> bool:
    """A reply with too little in it to answer anything ("ok", "sure", "👍")."""
    words = _WORD.findall(reply)
    return len(words) < 3 and not _FACT.search(reply)


def score_interaction(
    text: str,
    reply: str,
    *,
    followups: Sequence[str] = (),
    resolved: bool | None = None,
) -> Quality:
    """Score one customer message and its reply.

    `followups` are the customer's next turns in the same thread (empty for pairs files);
    `resolved` is False when the thread ended with the customer's problem still open.
    """
    reasons: list[str] = []
    if is_test_message(text) or is_test_message(reply):
        reasons.append("test message")
    if has_profanity(reply):
        reasons.append("profanity in reply")
    if too_short(reply):
        reasons.append("reply too short to be an answer")
    if followups and is_confused(followups[0]):
        reasons.append("reply confused the customer")
    if resolved is False or any(sounds_unresolved(turn) for turn in followups[:2]):
        reasons.append("thread unresolved")
    if has_profanity(text):
        reasons.append("profanity in message")
    score = 1.0
    for reason in reasons:
        score *= PENALTIES[reason]
    return Quality(round(score, 4), tuple(reasons))
