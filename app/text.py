"""Validation and fingerprints of message text."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from app.errors import InvalidInput

_WHITESPACE = re.compile(r"\s+")


def clean_text(value: object, field: str, max_chars: int) -> str:
    """Return `value` as a usable message text, or raise InvalidInput saying why not."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise InvalidInput(field, "must not be empty or whitespace only")
    if len(text) > max_chars:
        raise InvalidInput(field, f"is {len(text)} characters long; the limit is {max_chars}")
    if "\x00" in text:
        raise InvalidInput(field, "must not contain NUL characters")
    return text


def normalise_for_hash(text: str) -> str:
    """Case- and whitespace-insensitive form used for duplicate detection."""
    return _WHITESPACE.sub(" ", text).strip().casefold()


def fingerprint(*parts: str) -> str:
    """A stable hash of normalised parts (sha256 hex)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(normalise_for_hash(part).encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()
