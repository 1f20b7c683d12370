"""Business rules: every "no" with its reason; escalations hand the turn to a human."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import InvalidInput
from app.models import TenantPolicy
from app.policy import TurnFacts, anger_reason, evaluate, validate_policy

# A Monday, 15:30 UTC = 10:30 in New York.
NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


def facts(**kw: object) -> TurnFacts:
    base: dict[str, object] = {
        "now": NOW,
        "text": "what's the door code",
        "customer_number": "+15557654321",
        "recent_customer": [(NOW, "what's the door code")],
        "auto_replies_customer_day": 0,
        "auto_replies_conversation": 0,
        "last_operator_at": None,
    }
    base.update(kw)
    return TurnFacts(**base)  # type: ignore[arg-type]


def test_default_policy_allows_an_ordinary_question() -> None:
    verdict = evaluate(TenantPolicy(tenant="t"), facts())
    assert verdict.allowed and verdict.reasons == [] and not verdict.escalated


def test_hours_are_read_in_the_tenants_time_zone() -> None:
    policy = TenantPolicy(tenant="t", timezone="America/New_York", hours={"mon": [["09:00", "11:00"]]})
    assert evaluate(policy, facts()).allowed
    policy.timezone = "Europe/London"  # 15:30 there: outside
    verdict = evaluate(policy, facts())
    assert not verdict.allowed and "outside auto-reply hours (mon 15:30 Europe/London)" in verdict.reasons[0]


def test_holiday_in_local_time_blocks() -> None:
    policy = TenantPolicy(
        tenant="t", timezone="Asia/Tokyo", holidays=["2026-03-03"]
    )  # already the 3rd in Tokyo
    verdict = evaluate(policy, facts())
    assert not verdict.allowed and verdict.reasons[0].startswith("holiday (2026-03-03)")


def test_vip_customer_is_always_a_human() -> None:
    verdict = evaluate(TenantPolicy(tenant="t", vip_numbers=["+15557654321"]), facts())
    assert verdict.reasons == ["VIP customer: always a human"] and not verdict.escalated


def test_per_customer_and_per_conversation_limits() -> None:
    policy = TenantPolicy(tenant="t", max_auto_per_customer_day=3, max_auto_per_conversation=2)
    assert evaluate(policy, facts(auto_replies_customer_day=2, auto_replies_conversation=1)).allowed
    verdict = evaluate(policy, facts(auto_replies_customer_day=3, auto_replies_conversation=2))
    assert len(verdict.reasons) == 2 and all("limit reached" in r for r in verdict.reasons)


def test_operator_lockout_lasts_the_configured_hours() -> None:
    policy = TenantPolicy(tenant="t", operator_lockout_hours=4)
    assert "operator lockout" in evaluate(policy, facts(last_operator_at=NOW - timedelta(hours=3))).reasons[0]
    assert evaluate(policy, facts(last_operator_at=NOW - timedelta(hours=5))).allowed


def test_escalation_phrases_are_configurable() -> None:
    policy = TenantPolicy(tenant="t")
    assert evaluate(policy, facts(text="Can I talk to a human please")).escalated
    policy.escalation_phrases = ["supervisor"]
    assert evaluate(policy, facts(text="get me your supervisor")).escalated
    assert not evaluate(policy, facts(text="Can I talk to a human please")).escalated


def test_many_unanswered_messages_escalate() -> None:
    recent = [(NOW - timedelta(seconds=s), f"msg {s}") for s in (90, 60, 30, 0)]
    verdict = evaluate(TenantPolicy(tenant="t", repeat_limit=4), facts(recent_customer=recent))
    assert verdict.escalated and "4 messages within 120 s" in verdict.reasons[0]
    assert not evaluate(TenantPolicy(tenant="t", repeat_limit=5), facts(recent_customer=recent)).escalated


def test_repeated_text_escalates_but_not_outside_the_window() -> None:
    same = [(NOW - timedelta(seconds=60), "hello?"), (NOW, "Hello?")]
    assert evaluate(TenantPolicy(tenant="t"), facts(recent_customer=same)).escalated
    apart = [(NOW - timedelta(seconds=600), "hello?"), (NOW, "hello?")]
    assert not evaluate(TenantPolicy(tenant="t"), facts(recent_customer=apart)).escalated


@pytest.mark.parametrize(
    "text", ["THIS IS THE THIRD TIME I ASK", "where is my refund!!!", "this is ridiculous", "wtf is the code"]
)
def test_angry_messages_are_recognised(text: str) -> None:
    assert anger_reason(text) is not None


@pytest.mark.parametrize("text", ["what's the door code?", "Thanks!", "Is the BMW parking ok"])
def test_calm_messages_are_not_angry(text: str) -> None:
    assert anger_reason(text) is None


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (TenantPolicy(tenant="t", timezone="Nowhere/City"), "timezone"),
        (TenantPolicy(tenant="t", hours={"funday": []}), "hours.funday"),
        (TenantPolicy(tenant="t", hours={"mon": [["18:00", "09:00"]]}), "hours.mon[0]"),
        (TenantPolicy(tenant="t", hours={"mon": [["9am", "5pm"]]}), "hours.mon[0]"),
        (TenantPolicy(tenant="t", holidays=["25/12/2026"]), "holidays[0]"),
    ],
)
def test_bad_policy_names_the_field(policy: TenantPolicy, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_policy(policy)
    assert info.value.field == field
