"""PII masking: what is masked, what must survive (codes, prices, times), and the log filter."""

from __future__ import annotations

import logging

import pytest

from app.learning.facts import key_facts
from app.privacy import PIIFilter, has_mask, install_log_masking, luhn_valid, mask_pii, mask_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me on 555-123-4567", "call me on <phone>"),
        ("my number is (555) 123-4567 thanks", "my number is <phone> thanks"),
        ("text me at +1 555 123 4567!", "text me at <phone>!"),
        ("+447700900123", "<phone>"),
        ("mobile 07700 900123.", "mobile <phone>."),
        ("office 020 7946 0958", "office <phone>"),
        ("5551234567", "<phone>"),
        ("555.123.4567, ask for Sam", "<phone>, ask for Sam"),
        ("+44 20 7946 0958", "<phone>"),
        ("+1-902-555-0199", "<phone>"),
        ("email john.smith+golf@gmail.com please", "email <email> please"),
        ("Sam.O'Neil@example.co.uk", "<email>"),
        ("card 4111 1111 1111 1111 exp 12/27", "card <card> exp 12/27"),
        ("4111-1111-1111-1111", "<card>"),
        ("my amex 378282246310005", "my amex <card>"),
        ("4111111111111111", "<card>"),
        ("I live at 221B Baker Street, London", "I live at <address>, London"),
        ("deliver to 12 main st apt 4", "deliver to <address>"),
        ("1600 Pennsylvania Avenue NW", "<address> NW"),
        ("42 Elm Rd.", "<address>"),
        ("PO Box 123", "<address>"),
        ("postcode SW1A 1AA", "postcode <address>"),
        # Digits of other scripts are digits too: a phone number in them is still masked.
        ("call me on ０７７００ ９００１２３", "call me on <phone>"),
        ("call me on ٠٧٧٠٠٩٠٠١٢٣", "call me on <phone>"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the door code is 4512",
        "is the bedford door code still 4512?",
        "code 45124512",
        "it costs $12.50",
        "£1,250.00 total",
        "open 9:30am to 11pm",
        "see you on 2026-11-24",
        "booked for 11/24/2026",
        "order #12345678",
        "order number 1234567890",
        "ref 5551234567",
        "booking 100234",
        "tracking 1234 5678 9012 3456",  # 16 digits that fail the Luhn check
        "gift card 1234 5678 9012 3456 balance",
        "it's a 10 minute drive",
        "2 hour drive from here",
        "we have 4 bays on the 2nd floor",
        "12 14 16 18 20",
        "call between 9-5",
        "4 people at 5pm saturday",
        "room 101",
        "ip 192.168.100.200",
        "1234-5678",
        "version 1.2.3.4.5.6.7.8.9.10",
        "we're @bedford today",
    ],
)
def test_codes_prices_times_dates_and_order_numbers_are_not_masked(text: str) -> None:
    assert mask_pii(text) == text


def test_masking_is_idempotent() -> None:
    text = "I'm Sam, 555-123-4567, sam@x.io, 4111 1111 1111 1111, 12 Baker Street"
    once = mask_pii(text)
    assert once == "I'm Sam, <phone>, <email>, <card>, <address>"
    assert mask_pii(once) == once


def test_key_facts_survive_masking() -> None:
    reply = "The Bedford door code is 4512, it's $25 an hour and we open at 9am on Monday."
    message = "whats the code, call me back on 555-123-4567"
    assert key_facts(mask_pii(reply), mask_pii(message)) == key_facts(reply, message)
    assert "num:4512" in key_facts(mask_pii(reply))


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_json_payloads_are_masked_everywhere() -> None:
    payload = {
        "data": {"object": {"from": "+15557654321", "body": "mail me: a@b.com", "n": 3}},
        "x": ["4512"],
    }
    assert mask_value(payload) == {
        "data": {"object": {"from": "<phone>", "body": "mail me: <email>", "n": 3}},
        "x": ["4512"],
    }
    assert has_mask("call <phone>") and not has_mask("call 4512")


def test_log_filter_masks_arguments_and_tracebacks() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "reply to %s: %s", ("+15557654321", "ok"), None
    )
    PIIFilter().filter(record)
    assert record.getMessage() == "reply to <phone>: ok"
    try:
        raise ValueError("bad address sam@example.com")
    except ValueError:
        import sys

        failing = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    PIIFilter().filter(failing)
    assert failing.exc_text is not None and "sam@example.com" not in failing.exc_text
    assert "<email>" in failing.exc_text


def test_installed_masking_covers_every_logger(caplog: pytest.LogCaptureFixture) -> None:
    install_log_masking()
    install_log_masking()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("app.some.module").info(
            "customer %s wrote from %s", "sam@example.com", "555-123-4567"
        )
    assert "sam@example.com" not in caplog.text and "555-123-4567" not in caplog.text
    assert "customer <email> wrote from <phone>" in caplog.text


def test_masked_records_keep_their_arguments_for_formatters_that_read_them() -> None:
    from uvicorn.logging import AccessFormatter

    args = ("127.0.0.1:39778", "GET", "/api/search?q=call+me+on+07700900123", "1.1", 200)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )
    PIIFilter().filter(record)
    assert isinstance(record.args, tuple) and record.args[4] == 200
    line = AccessFormatter("%(client_addr)s - %(request_line)s %(status_code)s", use_colors=False).format(
        record
    )
    assert line == "127.0.0.1:39778 - GET /api/search?q=call+me+on+<phone> HTTP/1.1 200 OK"


def test_pii_that_only_appears_once_arguments_are_joined_is_still_masked() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "call %s%s", ("555-123", "-4567"), None)
    PIIFilter().filter(record)
    assert record.getMessage() == "call <phone>"
