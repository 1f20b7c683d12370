"""Signature verification of both OpenPhone schemes."""

from __future__ import annotations

import base64
import time

import pytest

from app.webhooks.signature import SignatureError, decode_secret, sign_legacy, sign_standard, verify

SECRET = "whsec_" + base64.b64encode(b"unit-test-secret").decode()
OLD = base64.b64encode(b"the-previous-secret").decode()
BODY = b'{"type":"message.received"}'
KEYS = [decode_secret(SECRET)]


def test_legacy_signature_with_millisecond_timestamp_verifies() -> None:
    now = time.time()
    header = sign_legacy(BODY, SECRET, int(now * 1000))
    assert verify({"openphone-signature": header}, BODY, KEYS, now, 300) == "legacy"


def test_standard_signature_verifies() -> None:
    now = int(time.time())
    headers = sign_standard(BODY, SECRET, "msg_1", now)
    assert verify(headers, BODY, KEYS, now, 300) == "standard"


def test_standard_header_with_several_signatures_accepts_any_match() -> None:
    now = int(time.time())
    good = sign_standard(BODY, SECRET, "msg_1", now)
    other = sign_standard(BODY, OLD, "msg_1", now)["webhook-signature"]
    good["webhook-signature"] = f"{other} v2,garbage {good['webhook-signature']}"
    assert verify(good, BODY, KEYS, now, 300) == "standard"


def test_legacy_header_with_several_signatures_accepts_any_match() -> None:
    now = time.time()
    header = f"{sign_legacy(BODY, OLD, int(now * 1000))},{sign_legacy(BODY, SECRET, int(now * 1000))}"
    assert verify({"openphone-signature": header}, BODY, KEYS, now, 300) == "legacy"


def test_rotated_keys_are_all_tried() -> None:
    now = int(time.time())
    headers = sign_standard(BODY, OLD, "msg_1", now)
    assert verify(headers, BODY, [decode_secret(SECRET), decode_secret(OLD)], now, 300) == "standard"


@pytest.mark.parametrize("skew", [-301, 301])
def test_stale_or_future_timestamp_is_rejected(skew: int) -> None:
    now = int(time.time())
    headers = sign_standard(BODY, SECRET, "msg_1", now + skew)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(headers, BODY, KEYS, now, 300)


def test_standard_signature_is_bound_to_the_message_id() -> None:
    now = int(time.time())
    headers = sign_standard(BODY, SECRET, "msg_1", now)
    headers["webhook-id"] = "msg_2"
    with pytest.raises(SignatureError, match="does not match"):
        verify(headers, BODY, KEYS, now, 300)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "no signature header"),
        ({"openphone-signature": "sha256=abc"}, "not of the form"),
        ({"openphone-signature": "hmac;1;notanumber;AAAA"}, "not a number"),
        ({"webhook-signature": "v1,AAAA", "webhook-timestamp": "1"}, "webhook-id"),
    ],
)
def test_malformed_signature_headers_are_rejected(headers: dict[str, str], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(headers, BODY, KEYS, time.time(), 300)


def test_no_configured_secret_rejects_everything() -> None:
    now = int(time.time())
    with pytest.raises(SignatureError, match="no webhook signing secret"):
        verify(sign_standard(BODY, SECRET, "m", now), BODY, [], now, 300)


def test_secret_that_is_not_base64_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="base64"):
        decode_secret("whsec_not*base64!")
