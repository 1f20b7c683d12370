"""Key facts of a reply: the values that make two similar-looking replies different answers.

A fact is a typed string ``"kind:value"`` (``ref:report_lost_card``, ``num:4512``,
``money:$12.50``, ``time:9am``, ``date:monday``, ``place:bedford``, ``phone:...``, ``url:...``,
``email:...``, ``answer:yes`` / ``answer:no``).
Template placeholders (``{{Order Number}}``, ``{name}``) are slots, not facts, and so are
identifiers and names the reply merely copies from the customer's message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from app.text import fingerprint, normalise_for_hash

_SLOT = re.compile(r"\{\{[^{}]*\}\}|\{[A-Za-z_][\w ]*\}")
_WS = re.compile(r"\s+")
# What replaces a slot or a taken fact: not a word, so "to {{Shop}} Cart" never reads "to Cart".
_GAP = " \u00a4 "

_REF_PAREN = re.compile(r"\(\s*ref[:#]?\s+([\w.:/-]+)\s*\)", re.IGNORECASE)
_REF_BRACKET = re.compile(r"\[\s*([\w.:/-]*[\d_][\w.:/-]*)\s*\]")
_REF_SNAKE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s)>\]]*[^\s)>\].,;:!?'\"]", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d{2,4}\)?(?:[\s.-]\d{2,4}){2,4}(?![\w])")
_MONEY = re.compile(
    r"[$£€]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:dollars|usd|eur|euros?|pounds|gbp)\b",
    re.IGNORECASE,
)
_CURRENCY_WORDS = (
    ("dollars", "$"),
    ("usd", "$"),
    ("euros", "€"),
    ("euro", "€"),
    ("eur", "€"),
    ("pounds", "£"),
    ("gbp", "£"),
)
_TIME = re.compile(
    r"\b\d{1,2}(?::\d{2})?\s?(?:a\.?m\.?|p\.?m\.?)(?![a-z])|\b\d{1,2}:\d{2}\b|\b(?:noon|midnight)\b",
    re.IGNORECASE,
)
# "24/7" (or "24x7") is opening hours, round the clock: a time, not the 24th of July.
_ROUND_THE_CLOCK = re.compile(r"\b24\s?[/x]\s?7\b", re.IGNORECASE)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
# "may" and "march" alone are usually verbs, so only other month names count without a day.
_BARE_MONTHS = "january|february|april|june|july|august|september|october|november|december"
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_DATE = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"
    rf"|\b(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\b"
    rf"|\b(?:{_DAYS})s?\b|\b(?:{_BARE_MONTHS})\b",
    re.IGNORECASE,
)
# A numbered-list marker ("1. Log in") is layout, not a fact, and so is a reference to the
# list's steps ("repeat steps 2 and 3").
_LIST_MARKER = re.compile(r"(?m)(?:^|(?<=[.:!?] ))\s*\d{1,2}[.)]\s")
_STEP_REFERENCE = re.compile(
    r"\bsteps?\s+\d{1,2}(?:\s*(?:,|-|–|and|or|to|through)\s*\d{1,2})*\b", re.IGNORECASE
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*%?(?![\w])")
# A capitalised name after a preposition ("for Bedford", "in New York") is where a place or a
# person shows up in a short reply; a capitalised word at a sentence start tells nothing.
_PLACE = re.compile(
    r"\b(?:in|at|for|from|near|to|on|of|via|by)[ \t]+((?:Mr\.?\s|Mrs\.?\s|Ms\.?\s|Dr\.?\s)?"
    r"[A-Z][\w'&-]*(?:[ \t]+[A-Z][\w'&-]*)*)"
)
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|'[A-Z][^'\n]*'")
_NOT_PLACES = frozenset(
    ("i", "i'm", "i'll", "i've", "i'd", "you", "we", "us", "our", "your", "the", "a", "an")
    + ("this", "that", "it", "me", "my", "please", "thanks", "mind")
)
# A reply that opens with a yes or a no answers a yes/no question: the two are different answers.
_YES = re.compile(r"^\W*(?:yes|yep|yeah|yup)\b", re.IGNORECASE)
_NO = re.compile(
    r"^\W*(?:(?:no|nope)\b(?!\s+(?:problem|worries|need|trouble))|sorry\b|unfortunately\b)",
    re.IGNORECASE,
)
# Long identifiers (order numbers, phone numbers) copied from the message are the customer's data.
_ECHO_MIN_DIGITS = 5
_ECHO_MIN_AMOUNT = 2
_DIGITS = re.compile(r"\d[\d,]*")


def normalise_reply(text: str) -> str:
    """The reply with case folded and whitespace collapsed: equal texts here are one reply."""
    return normalise_for_hash(text)


def reply_key(reply: str) -> str:
    """Lookup key of a reply: identical after case and whitespace normalisation."""
    return fingerprint(normalise_reply(reply))


def strip_slots(text: str) -> str:
    """The reply with template placeholders removed."""
    return _SLOT.sub(_GAP, text)


def _take(pattern: re.Pattern[str], text: str, kind: str, out: set[str], group: int = 0) -> str:
    """Add every match of `pattern` as a `kind` fact and blank it out of the text."""

    def repl(m: re.Match[str]) -> str:
        out.add(f"{kind}:{_canonical(kind, m.group(group))}")
        return _GAP

    return pattern.sub(repl, text)


def _canonical(kind: str, raw: str) -> str:
    """One spelling per value, so "9:00 a.m." and "9am" are the same fact."""
    value = _WS.sub(" ", raw).strip().casefold()
    if kind == "time":
        if _ROUND_THE_CLOCK.fullmatch(value):
            return "24/7"
        return value.replace(" ", "").replace(".", "").replace(":00", "")
    if kind == "money":
        for word, symbol in _CURRENCY_WORDS:
            if word in value:
                value = symbol + value.replace(word, "")
        return value.replace(" ", "").replace(",", "")
    if kind == "phone":
        return re.sub(r"\D", "", value)
    if kind == "num":
        return value.replace(",", "")
    if kind == "date" and value.endswith("days"):
        return value[:-1]  # "sundays" and "sunday" are the same day
    return value


def _echoed(fact: str, message: str, message_numbers: list[str], message_amounts: set[str]) -> bool:
    """True when the fact is a name, amount or identifier the reply copied from the message."""
    kind, _, value = fact.partition(":")
    if kind == "place":
        return value.removesuffix("'s").removeprefix("mr. ").removeprefix("ms. ") in message
    if kind == "money" and value in message_amounts:
        return True  # the customer's own amount, however small ("refund my $3")
    if kind in ("num", "phone", "money"):
        digits = re.sub(r"\D", "", value)
        if len(digits) < (_ECHO_MIN_AMOUNT if kind == "money" else _ECHO_MIN_DIGITS):
            return False
        # A long identifier retyped with a digit more or less is still the customer's identifier.
        return any(
            n == digits
            or (
                min(len(n), len(digits)) >= _ECHO_MIN_DIGITS
                and (n.startswith(digits) or digits.startswith(n))
            )
            for n in message_numbers
        )
    return kind in ("email", "url") and value in message


def key_facts(text: str, message: str | None = None) -> frozenset[str]:
    """The key facts of a reply; with `message`, values copied from it count as slots."""
    out = reply_facts(text)
    if message and out:
        lowered = _WS.sub(" ", message.casefold())
        numbers = [n.replace(",", "") for n in _DIGITS.findall(lowered)]
        amounts = {_canonical("money", m.group(0)) for m in _MONEY.finditer(lowered)}
        out = frozenset(f for f in out if not _echoed(f, lowered, numbers, amounts))
    return out


# Operators send the same few replies over and over (a tenant's memory holds every example's
# reply), so a reply's own facts are worked out once: the regexes are most of a learn's Python time.
@lru_cache(maxsize=4096)
def reply_facts(text: str) -> frozenset[str]:
    """The key facts a reply states, before those copied from the message are set aside."""
    out: set[str] = set()
    if _YES.match(text):
        out.add("answer:yes")
    elif _NO.match(text):
        out.add("answer:no")
    body = _STEP_REFERENCE.sub(_GAP, _LIST_MARKER.sub(_GAP, strip_slots(text)))
    body = _take(_URL, body, "url", out)
    body = _take(_EMAIL, body, "email", out)
    body = _take(_REF_PAREN, body, "ref", out, group=1)
    body = _take(_REF_BRACKET, body, "ref", out, group=1)
    body = _take(_REF_SNAKE, body, "ref", out)
    body = _take(_MONEY, body, "money", out)
    body = _take(_ROUND_THE_CLOCK, body, "time", out)
    body = _take(_TIME, body, "time", out)
    body = _take(_DATE, body, "date", out)
    body = _take(_PHONE, body, "phone", out)
    body = _take(_NUMBER, body, "num", out)
    unquoted = _QUOTED.sub(" ", body)
    for m in _PLACE.finditer(unquoted):
        name = _WS.sub(" ", m.group(1)).strip(" '-").casefold().removesuffix("'s")
        if len(name) > 1 and name.split(" ")[0] not in _NOT_PLACES:
            out.add(f"place:{name}")
    return frozenset(out)


def fact_kinds(facts: Iterable[str]) -> dict[str, frozenset[str]]:
    """Facts grouped by kind."""
    by_kind: dict[str, set[str]] = {}
    for fact in facts:
        by_kind.setdefault(fact.partition(":")[0], set()).add(fact)
    return {kind: frozenset(values) for kind, values in by_kind.items()}


def facts_conflict(a: Iterable[str], b: Iterable[str]) -> bool:
    """True when two replies state different values of a kind of fact both of them state."""
    ka, kb = fact_kinds(a), fact_kinds(b)
    return any(kind in kb and ka[kind] != kb[kind] for kind in ka)
