"""Masking personal data (phone numbers, e-mail addresses, card numbers, street addresses).

Every text that is stored for learning, embedded, logged or sent to an LLM passes through
`mask_pii` first. The masks are words, not values (`<phone>`), so two customers' messages that
differ only in their number read the same to the matcher. What must survive is just as
important: door codes (4512), prices, times, dates and order numbers are the key facts that
tell replies apart (app/learning/facts.py), so every rule here is narrow on purpose.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

PHONE, EMAIL, CARD, ADDRESS = "<phone>", "<email>", "<card>", "<address>"
MASKS = (PHONE, EMAIL, CARD, ADDRESS)

_EMAIL = re.compile(r"(?<![\w.+'-])[\w.+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")

# 13-19 digits, in one run or in groups split by single spaces or dashes; Luhn decides.
_CARD = re.compile(r"(?<![\w.,/:#$£€-])\d(?:[ -]?\d){12,18}(?![\w.,/:-]?\d)")

# A run of digits with phone-style separators; how many digits it holds decides (see _is_phone).
_PHONE = re.compile(
    r"(?<![\w.,/:#$£€@-])"
    r"(?:\+\s?\d|\(\d|\d)"
    r"(?:[\d]|[ .-](?=[\d(])|\((?=\d)|\)(?=[ .-]?\d))*"
    r"\d(?![\w@]|[.,:/-]\d)"
)
# Words that make the number after them an identifier of ours, not somebody's phone number.
_ID_CONTEXT = re.compile(
    r"(?:order|ref|reference|booking|invoice|confirmation|ticket|tracking|account|acct|"
    r"receipt|reservation|case|id|no|number|#)\s*(?:no\.?|number|num|#)?\s*[:#]?\s*$",
    re.IGNORECASE,
)

_SUFFIXES = (
    "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
    "terrace|close|crescent|highway|hwy|parkway|pkwy|square|sq|circle|cir|row|gardens|grove"
)
# Words that turn "10 minute drive" or "2 hour walk" into a distance, never an address.
_NOT_STREET_WORDS = (
    "minutes?|mins?|hours?|hrs?|miles?|mi|km|kilometres?|kilometers?|metres?|meters?|blocks?|"
    "seconds?|secs?|days?|weeks?|steps?|people|persons?|players?|bays?|sims?|simulators?|"
    "minute|hour|mile|feet|ft|yards?|yds?"
)
_ADDRESS = re.compile(
    rf"(?<![\w$£€.,/:#-])\d{{1,5}}[A-Za-z]?,?\s+"
    rf"(?!(?:{_NOT_STREET_WORDS})\b)(?:[A-Za-z][\w'.-]*\s+){{1,3}}"
    rf"(?:{_SUFFIXES})\b\.?"
    r"(?:,?\s+(?:apt|apartment|unit|suite|ste|flat|#)\.?\s*#?\w{1,6})?",
    re.IGNORECASE,
)
_PO_BOX = re.compile(r"\bP\.?\s?O\.?\s+Box\s+\d{1,6}\b", re.IGNORECASE)
# UK postcodes only in their exact upper-case shape: "SW1A 1AA", "M1 1AE".
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b")
# Every rule above needs a digit, or an "@" for an e-mail address. Most messages have neither,
# and one search for them costs less than six rules run right after a model run, on every match.
_MAY_HOLD_PII = re.compile(r"[\d@]")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return CARD if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def _is_phone(candidate: str, before: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if candidate.startswith("+"):
        return 8 <= len(digits) <= 15
    if not 10 <= len(digits) <= 11 or _ID_CONTEXT.search(before[-24:]):
        return False
    # "12 14 16 18 20" is a list of numbers, not a phone number.
    groups = [g for g in re.split(r"[ .()-]+", candidate) if g]
    return len(groups) <= 4


def _phone(text: str) -> str:
    out: list[str] = []
    last = 0
    for match in _PHONE.finditer(text):
        out.append(text[last : match.start()])
        candidate = match.group(0)
        out.append(PHONE if _is_phone(candidate, text[: match.start()]) else candidate)
        last = match.end()
    out.append(text[last:])
    return "".join(out)


def mask_pii(text: str) -> str:
    """The text with phone numbers, e-mails, card numbers and street addresses masked."""
    if not text or not _MAY_HOLD_PII.search(text):
        return text
    text = _EMAIL.sub(EMAIL, text)
    text = _CARD.sub(_card, text)
    text = _PO_BOX.sub(ADDRESS, text)
    text = _ADDRESS.sub(ADDRESS, text)
    text = _POSTCODE.sub(ADDRESS, text)
    return _phone(text)


def mask_value(value: Any) -> Any:
    """Strings anywhere inside JSON-like data masked (a stored webhook payload, say)."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_value(item) for item in value]
    return value


def has_mask(text: str) -> bool:
    """True when the text holds a mask: it stood for somebody's data, so it cannot go out as is."""
    return any(mask in text for mask in MASKS)


class PIIFilter(logging.Filter):
    """Masks a record's message and its traceback; never drops a record.

    The arguments keep their shape (masked one by one) where that is enough, because some
    formatters read them: uvicorn's access log unpacks (client, method, path, version, status).
    Only when PII shows up across arguments is everything merged into one masked message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to logging's own error report
            return True
        masked = mask_pii(message)
        if masked != message:
            msg, args = record.msg, record.args
            record.msg = mask_pii(msg) if isinstance(msg, str) else msg
            record.args = _masked_args(args)
            try:
                composed = record.getMessage()
            except Exception:
                composed = message
            if mask_pii(composed) != composed:
                record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        return True


def _masked_args(args: Any) -> Any:
    """Log arguments with every string masked and every other value as it was."""
    if isinstance(args, tuple):
        return tuple(mask_pii(a) if isinstance(a, str) else a for a in args)
    if isinstance(args, Mapping):
        return {k: mask_pii(v) if isinstance(v, str) else v for k, v in args.items()}
    return args


_install_lock = threading.Lock()
_installed = False


def install_log_masking() -> None:
    """Mask every log record of the process as it is created (all loggers, all handlers).

    A filter on one logger does not see its children's records, and handlers added later
    (uvicorn's, pytest's) would miss it; the record factory sees every record.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
        pii_filter = PIIFilter()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            pii_filter.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
