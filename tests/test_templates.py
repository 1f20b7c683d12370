"""Safe response templates: the fixed placeholder list, injection attempts, missing values."""

from __future__ import annotations

import pytest

from app.errors import InvalidInput
from app.learning.matcher import MatchResult
from app.models import Action, DecisionKind
from app.template_values import apply_template
from app.templates import PLACEHOLDERS, render, validate_template

VALUES = {"customer_first_name": "Sam", "location": "Bedford", "booking_link": "https://book.example/bed"}


def test_known_placeholders_are_accepted_and_listed() -> None:
    text = "Hi {customer_first_name?}, book {location} at {booking_link}."
    assert validate_template(text) == ["booking_link", "customer_first_name", "location"]
    assert render(text, VALUES).text == "Hi Sam, book Bedford at https://book.example/bed."


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("Hi {first}", "{first}"),
        ("{0.__class__}", "{0.__class__}"),
        ("{0}", "{0}"),
        ("{}", "{}"),
        ("{location.__class__.__mro__}", "{location.__class__.__mro__}"),
        ("{customer_first_name.upper}", "{customer_first_name.upper}"),
        ("{location[0]}", "{location[0]}"),
        ("{location!r}", "{location!r}"),
        ("{location:>99999}", "{location:>99999}"),
        ("${__import__('os').system('id')}", "{__import__('os').system('id')}"),
        ("{% for x in y %}", "{% for x in y %}"),
        ("{LOCATION}", "{LOCATION}"),
        ("{ location }", "{ location }"),
    ],
)
def test_unknown_or_malformed_placeholders_are_rejected_naming_them(template: str, named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_template(template)
    assert caught.value.field == "response_text"
    assert named in caught.value.message


@pytest.mark.parametrize("template", ["Hi {location", "Hi location}", "{{location}", "a { b"])
def test_unbalanced_braces_are_rejected(template: str) -> None:
    with pytest.raises(InvalidInput, match="brace"):
        validate_template(template)


def test_double_braces_are_literal_braces_and_never_evaluated() -> None:
    assert validate_template("{{ 7*7 }} and {{location}}") == []
    assert render("{{ 7*7 }} and {{location}}", VALUES).text == "{ 7*7 } and {location}"
    assert render("{{{location}}}", VALUES).text == "{Bedford}"


def test_values_are_inserted_literally_never_parsed_again() -> None:
    hostile = {"location": "{booking_link} {0.__class__} {{ 7*7 }} %s ${x}"}
    assert render("At {location}", hostile).text == "At {booking_link} {0.__class__} {{ 7*7 }} %s ${x}"


def test_text_outside_braces_is_copied_as_is() -> None:
    text = "Price is 100% $5 {{%}} %(name)s \\n done"
    assert render(text, {}).text == "Price is 100% $5 {%} %(name)s \\n done"


def test_missing_optional_value_drops_the_placeholder_and_its_space() -> None:
    assert render("Hi {customer_first_name?}, the code is 4512.", {}).text == "Hi, the code is 4512."
    assert render("Thanks {customer_first_name?}!", {}).text == "Thanks!"
    assert render("{customer_first_name?} see you soon", {}).text == "see you soon"


def test_missing_required_value_renders_nothing_and_names_it() -> None:
    rendered = render("Book at {booking_link} or call {business_phone}", {"business_phone": "+1555"})
    assert rendered.text is None and rendered.missing == ["booking_link"]
    assert rendered.problem is not None and "booking_link" in rendered.problem
    assert render("Book at {booking_link}", {"booking_link": "   "}).text is None


def test_a_reply_holding_masked_personal_data_is_not_sent() -> None:
    rendered = render("Call Sam back on <phone>", {})
    assert rendered.text is None and rendered.problem is not None and "<phone>" in rendered.problem


def test_an_invalid_learned_reply_cannot_be_rendered() -> None:
    rendered = render("use {code} at the door", {})
    assert rendered.text is None and rendered.problem is not None and "{code}" in rendered.problem


def test_every_placeholder_has_a_documented_source() -> None:
    assert all(PLACEHOLDERS.values())
    assert {"customer_first_name", "location", "booking_link", "business_name"} <= set(PLACEHOLDERS)


def _result(reply: str | None, decision: DecisionKind) -> MatchResult:
    return MatchResult("t", 1, reply, 0.99, Action.auto, decision, "confidence above the auto threshold", {})


def test_auto_reply_is_filled_in() -> None:
    out = apply_template(_result("Book at {booking_link}", DecisionKind.auto), VALUES)
    assert out.reply == "Book at https://book.example/bed" and out.decision == DecisionKind.auto


def test_auto_reply_with_a_missing_value_falls_back_to_a_person() -> None:
    out = apply_template(_result("Hi {customer_first_name}, code 4512", DecisionKind.auto), {})
    assert out.decision == DecisionKind.suggest
    assert "customer_first_name" in out.reason and "draft" in out.reason
    assert out.reply == "Hi {customer_first_name}, code 4512"  # the operator sees what is missing
    assert out.explanation["template"]["missing"] == ["customer_first_name"]


def test_abstention_is_left_alone() -> None:
    result = _result(None, DecisionKind.abstain)
    assert apply_template(result, VALUES) is result
