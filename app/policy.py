"""Business rules: may PLS reply automatically to this turn? Every "no" carries its reason.

Two kinds of "no": a rule that only stops the automatic reply (hours, holidays, VIPs, limits,
an operator who just replied), after which the operator still gets a draft, and an escalation
(the customer asks for a person, repeats themselves, or is angry), after which a human takes
over with no draft at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import InvalidInput
from app.models import TenantPolicy
from app.text import normalise_for_hash

# The rules a tenant sets (TenantPolicy's editable fields).
POLICY_FIELDS = (
    "timezone",
    "hours",
    "holidays",
    "vip_numbers",
    "max_auto_per_customer_day",
    "max_auto_per_conversation",
    "operator_lockout_hours",
    "escalation_phrases",
    "repeat_window_s",
    "repeat_limit",
    "shadow",
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_ESCALATION_PHRASES = (
    "speak to a human",
    "talk to a human",
    "speak to someone",
    "talk to someone",
    "real person",
    "actual person",
    "speak to a person",
    "talk to a person",
    "speak to a manager",
    "talk to a manager",
    "your manager",
    "customer service",
    "call me",
    "are you a bot",
    "is this a bot",
    "stop texting",
)
_ANGRY_WORDS = re.compile(
    r"\b(?:furious|ridiculous|unacceptable|terrible|horrible|awful|worst|useless|pathetic|scam|"
    r"disgusting|angry|pissed|wtf|fuck\w*|shit\w*|damn|bullshit|sue|lawyer|refund now|never again|"
    r"rip ?off|joke)\b"
)


@dataclass(frozen=True)
class TurnFacts:
    """What the rules look at for one customer turn."""

    now: datetime  # timezone-aware
    text: str
    customer_number: str
    recent_customer: list[tuple[datetime, str]]  # customer messages since the last reply, with times
    auto_replies_customer_day: int
    auto_replies_conversation: int
    last_operator_at: datetime | None


@dataclass
class Verdict:
    """The rules' answer: allowed, or not and why; escalated means a human takes over."""

    allowed: bool = True
    reasons: list[str] = field(default_factory=list)
    escalated: bool = False

    def deny(self, reason: str, escalate: bool = False) -> None:
        self.allowed = False
        self.reasons.append(reason)
        self.escalated = self.escalated or escalate

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reasons": list(self.reasons), "escalated": self.escalated}


def anger_reason(text: str) -> str | None:
    """Why a message reads as angry, or None."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        return "customer is shouting (mostly capitals)"
    if text.count("!") >= 3 or "?!" in text:
        return "customer sounds upset (repeated ! or ?!)"
    found = _ANGRY_WORDS.search(text.casefold())
    if found:
        return f"customer sounds angry ({found.group(0)!r})"
    return None


def _parse_clock(value: str, path: str) -> time:
    try:
        return time(24 - 1, 59, 59) if value == "24:00" else time.fromisoformat(value)
    except ValueError:
        raise InvalidInput(path, f"{value!r} is not HH:MM") from None


def validate_policy(policy: TenantPolicy) -> TenantPolicy:
    """InvalidInput naming the first bad setting; the policy otherwise."""
    try:
        ZoneInfo(policy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("timezone", f"{policy.timezone!r} is not an IANA time zone") from None
    for day, windows in policy.hours.items():
        if day not in DAYS:
            raise InvalidInput(f"hours.{day}", f"must be one of {', '.join(DAYS)}")
        if not isinstance(windows, list):
            raise InvalidInput(f"hours.{day}", "must be a list of [start, end] pairs")
        for i, window in enumerate(windows):
            if not (isinstance(window, list | tuple) and len(window) == 2):
                raise InvalidInput(f"hours.{day}[{i}]", "must be a [start, end] pair")
            start, end = (_parse_clock(str(v), f"hours.{day}[{i}]") for v in window)
            if start >= end:
                raise InvalidInput(f"hours.{day}[{i}]", "start must be before end")
    for i, day in enumerate(policy.holidays):
        try:
            date.fromisoformat(day)
        except (TypeError, ValueError):
            raise InvalidInput(f"holidays[{i}]", f"{day!r} is not YYYY-MM-DD") from None
    return policy


def _within_hours(policy: TenantPolicy, local: datetime) -> bool:
    if not policy.hours:
        return True
    windows = policy.hours.get(DAYS[local.weekday()], [])
    clock = local.time().replace(tzinfo=None)
    return any(_parse_clock(str(a), "hours") <= clock < _parse_clock(str(b), "hours") for a, b in windows)


def _escalations(policy: TenantPolicy, facts: TurnFacts, verdict: Verdict) -> None:
    plain = normalise_for_hash(facts.text).replace("’", "'")
    phrases = policy.escalation_phrases or list(DEFAULT_ESCALATION_PHRASES)
    asked = next((p for p in phrases if normalise_for_hash(p) in plain), None)
    if asked:
        verdict.deny(f"escalated: customer asked for a person ({asked!r})", escalate=True)
    window = timedelta(seconds=policy.repeat_window_s)
    recent = [text for at, text in facts.recent_customer if facts.now - at <= window]
    normalised = [normalise_for_hash(text) for text in recent]
    if len(normalised) != len(set(normalised)):
        verdict.deny("escalated: customer repeated the same message", escalate=True)
    elif len(recent) >= policy.repeat_limit:
        verdict.deny(
            f"escalated: {len(recent)} messages within {policy.repeat_window_s} s without an answer",
            escalate=True,
        )
    angry = anger_reason(facts.text)
    if angry:
        verdict.deny(f"escalated: {angry}", escalate=True)


def evaluate(policy: TenantPolicy, facts: TurnFacts) -> Verdict:
    """Check every rule (all reasons are kept, not only the first)."""
    verdict = Verdict()
    _escalations(policy, facts, verdict)
    local = facts.now.astimezone(ZoneInfo(policy.timezone))
    if local.date().isoformat() in set(policy.holidays):
        verdict.deny(f"holiday ({local.date().isoformat()}): no automatic replies")
    elif not _within_hours(policy, local):
        verdict.deny(f"outside auto-reply hours ({DAYS[local.weekday()]} {local:%H:%M} {policy.timezone})")
    if facts.customer_number in set(policy.vip_numbers):
        verdict.deny("VIP customer: always a human")
    if facts.auto_replies_customer_day >= policy.max_auto_per_customer_day:
        verdict.deny(
            f"limit reached: {facts.auto_replies_customer_day} automatic replies to this customer in 24 h"
        )
    if facts.auto_replies_conversation >= policy.max_auto_per_conversation:
        verdict.deny(
            f"limit reached: {facts.auto_replies_conversation} automatic replies in this conversation"
        )
    if facts.last_operator_at is not None:
        since = facts.now - facts.last_operator_at
        if since <= timedelta(hours=policy.operator_lockout_hours):
            minutes = max(0, int(since.total_seconds() // 60))
            verdict.deny(f"operator lockout: a person replied {minutes} min ago")
    return verdict
