"""Webhook signatures: OpenPhone's legacy scheme and Standard Webhooks, both HMAC-SHA256.

- legacy: `openphone-signature: hmac;1;<timestamp>;<base64 digest>`, the digest over
  `<timestamp>.<raw body>`, keyed with the base64-decoded signing secret;
- Standard Webhooks: `webhook-id`, `webhook-timestamp` (seconds) and
  `webhook-signature: v1,<base64> [v1,<base64> ...]` over `<id>.<timestamp>.<raw body>`, keyed
  with the `whsec_` secret without its prefix, base64-decoded.

A header may carry several signatures (secret rotation): one match is enough. Digests are
compared in constant time, and a timestamp outside the tolerance is refused so a captured
delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from app.errors import PLSError

LEGACY_HEADER = "openphone-signature"
STD_ID, STD_TIMESTAMP, STD_SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"
# A legacy timestamp above this is in milliseconds (OpenPhone sends ms); below, seconds.
_MS_CUTOFF = 10**11


class SignatureError(PLSError):
    """The delivery is not proven to come from the platform (answered 401, nothing stored)."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a configured secret: base64, optionally prefixed `whsec_`."""
    raw = secret.strip().removeprefix("whsec_")
    try:
        return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("webhook secret is not base64 (optionally prefixed whsec_)") from error


def _digest(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _check_time(timestamp: str, now: float, tolerance_s: float, *, millis_ok: bool) -> None:
    if not re.fullmatch(r"\d{1,16}", timestamp):
        raise SignatureError("signature timestamp is not a number")
    value = int(timestamp)
    seconds = value / 1000 if millis_ok and value > _MS_CUTOFF else float(value)
    if abs(now - seconds) > tolerance_s:
        raise SignatureError(
            f"signature timestamp is outside the {int(tolerance_s)} s tolerance (stale or replayed)"
        )


def _any_match(keys: Sequence[bytes], payload: bytes, candidates: Sequence[bytes]) -> bool:
    found = False
    for key in keys:
        expected = _digest(key, payload)
        for candidate in candidates:
            # Constant time, and no early exit that would tell which key or entry was close.
            found |= hmac.compare_digest(expected, candidate)
    return found


def verify_legacy(header: str, body: bytes, keys: Sequence[bytes], now: float, tolerance_s: float) -> None:
    """Check an `openphone-signature` header; raises SignatureError."""
    entries = [part.strip() for part in header.split(",") if part.strip()]
    checked = False
    for entry in entries:
        fields = entry.split(";")
        if len(fields) != 4 or fields[0] != "hmac" or fields[1] != "1":
            continue
        _check_time(fields[2], now, tolerance_s, millis_ok=True)
        digest = _b64(fields[3])
        checked = True
        if digest is not None and _any_match(keys, fields[2].encode() + b"." + body, [digest]):
            return
    if not checked:
        raise SignatureError("openphone-signature is not of the form hmac;1;<timestamp>;<digest>")
    raise SignatureError("signature does not match")


def verify_standard(
    msg_id: str,
    timestamp: str,
    header: str,
    body: bytes,
    keys: Sequence[bytes],
    now: float,
    tolerance_s: float,
) -> None:
    """Check Standard Webhooks headers; raises SignatureError."""
    if not msg_id:
        raise SignatureError("webhook-id header is missing")
    _check_time(timestamp, now, tolerance_s, millis_ok=False)
    digests = []
    for entry in header.split():
        version, _, value = entry.partition(",")
        digest = _b64(value) if version == "v1" else None
        if digest is not None:
            digests.append(digest)
    if not digests:
        raise SignatureError("webhook-signature has no v1,<base64> entry")
    if not _any_match(keys, f"{msg_id}.{timestamp}.".encode() + body, digests):
        raise SignatureError("signature does not match")


def verify(
    headers: Mapping[str, str], body: bytes, keys: Sequence[bytes], now: float, tolerance_s: float
) -> str:
    """Verify whichever scheme the headers use; returns its name ("standard" or "legacy")."""
    if not keys:
        raise SignatureError("no webhook signing secret is configured (PLS_OPENPHONE_WEBHOOK_SECRET)")
    if STD_SIGNATURE in headers:
        verify_standard(
            headers.get(STD_ID, ""),
            headers.get(STD_TIMESTAMP, ""),
            headers[STD_SIGNATURE],
            body,
            keys,
            now,
            tolerance_s,
        )
        return "standard"
    if LEGACY_HEADER in headers:
        verify_legacy(headers[LEGACY_HEADER], body, keys, now, tolerance_s)
        return "legacy"
    raise SignatureError("no signature header (openphone-signature or webhook-signature)")


def sign_legacy(body: bytes, secret: str, timestamp_ms: int) -> str:
    """An `openphone-signature` value, as the platform computes it (tests, benchmarks)."""
    digest = _digest(decode_secret(secret), str(timestamp_ms).encode() + b"." + body)
    return f"hmac;1;{timestamp_ms};{base64.b64encode(digest).decode()}"


def sign_standard(body: bytes, secret: str, msg_id: str, timestamp_s: int) -> dict[str, str]:
    """Standard Webhooks headers for `body` (tests, benchmarks)."""
    digest = _digest(decode_secret(secret), f"{msg_id}.{timestamp_s}.".encode() + body)
    return {
        STD_ID: msg_id,
        STD_TIMESTAMP: str(timestamp_s),
        STD_SIGNATURE: f"v1,{base64.b64encode(digest).decode()}",
    }
