"""Key facts decide which replies may never share a pattern."""

from __future__ import annotations

from app.learning.facts import facts_conflict, key_facts, normalise_reply


def test_normalise_reply_folds_case_and_whitespace() -> None:
    assert normalise_reply("  The Door code\r\n is  4512 ") == normalise_reply("the door CODE is 4512")


def test_door_codes_for_two_places_conflict() -> None:
    bedford = key_facts("The door code for Bedford is 4512")
    dartmouth = key_facts("The door code for Dartmouth is 7788")
    assert {"num:4512", "place:bedford"} <= bedford
    assert {"num:7788", "place:dartmouth"} <= dartmouth
    assert facts_conflict(bedford, dartmouth)


def test_same_code_reworded_does_not_conflict() -> None:
    assert not facts_conflict(key_facts("Door code is 4512."), key_facts("You can get in with 4512"))


def test_reference_codes_of_templated_replies_differ() -> None:
    lost = key_facts(
        "Thanks for reaching out! For report lost card, here is exactly what to do next. (ref REPORT_LOST_CARD)"
    )
    yes = key_facts("Thanks for reaching out! For yes, here is exactly what to do next. (ref YES)")
    assert lost == {"ref:report_lost_card"}
    assert yes == {"ref:yes"}
    assert facts_conflict(lost, yes)


def test_bracketed_ticket_codes_are_facts() -> None:
    a = key_facts("Let me look into that one personally. [clinc150-oos_train-00009]")
    b = key_facts("Let me look into that one personally. [clinc150-oos_train-00010]")
    assert facts_conflict(a, b)


def test_template_placeholders_are_slots_not_facts() -> None:
    reply = "Your order {{Order Number}} ships from {{Store Name}}. Sign in to {{Website Name}} to track it."
    assert key_facts(reply) == frozenset()


def test_identifier_copied_from_the_message_is_a_slot() -> None:
    reply = "I understand you want to cancel order 370795561790. Please follow these steps."
    assert "num:370795561790" in key_facts(reply)
    assert key_facts(reply, message="cancel order 370795561790 please") == frozenset()
    # A retyped identifier with a digit missing is still the customer's own.
    assert key_facts(reply, message="cancel order 3707955617") == frozenset()


def test_name_copied_from_the_message_is_a_slot() -> None:
    reply = "I can help you check the invoice from Mr. Smith."
    assert key_facts(reply) == {"place:mr. smith"}
    assert key_facts(reply, message="check invoice from Mr. Smith") == frozenset()


def test_numbered_steps_are_layout_not_facts() -> None:
    reply = "Here is how:\n1. Log in.\n2. Open Settings.\n3. Tap Save."
    assert key_facts(reply) == frozenset()


def test_amounts_times_dates_and_contacts_are_normalised() -> None:
    facts = key_facts(
        "We open at 9:00 a.m. on Mondays. The fee is $12.50 (or 10 dollars). "
        "Call 555-123-4567, mail help@shop.com or see https://shop.com/faq."
    )
    assert {"time:9am", "date:monday", "money:$12.50", "money:$10"} <= facts
    assert {"phone:5551234567", "email:help@shop.com", "url:https://shop.com/faq"} <= facts


def test_yes_and_no_answers_conflict() -> None:
    yes = key_facts("Yes, we are open on Sunday")
    no = key_facts("No, we are closed on Sundays")
    assert "answer:yes" in yes and "answer:no" in no
    assert facts_conflict(yes, no)
    assert "answer:no" not in key_facts("No problem, here it is")


def test_extra_fact_of_another_kind_is_not_a_conflict() -> None:
    assert not facts_conflict(
        key_facts("The door code is 4512"), key_facts("The door code is 4512, on Monday too")
    )


def test_round_the_clock_is_opening_hours_not_a_date() -> None:
    always = key_facts("Our team is here for you 24/7 through Live Chat.")
    assert always == {"time:24/7"}
    assert key_facts("Support answers 24 x 7") == {"time:24/7"}
    # So it does not stand against a date a similar reply names, but does against other hours.
    assert not facts_conflict(always, key_facts("Invoices from October are in Billing."))
    assert facts_conflict(always, key_facts("Our team is here for you from 9am."))


def test_references_to_numbered_steps_are_layout() -> None:
    reply = (
        "1. Find the item.\n2. Add it to the cart.\n3. Repeat steps 1 and 2 for each item, then see step 3."
    )
    assert key_facts(reply) == frozenset()


def test_an_amount_copied_from_the_message_is_a_slot_however_small() -> None:
    reply = "To request a refund of $3, please follow these steps."
    assert key_facts(reply) == {"money:$3"}
    assert key_facts(reply, message="refunding $3") == frozenset()
    assert key_facts(reply, message="refund of 3 items") == {"money:$3"}
