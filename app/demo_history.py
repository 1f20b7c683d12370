"""A realistic message history of a golf-simulator business, in OpenPhone's export shape.

Three locations with their own door codes, bookings, refunds, frozen simulators, hours, prices,
gift cards and lost items. Customers word things their own way (sometimes over two messages),
three operators answer in their own styles, and some threads go wrong: a wrong door code that
confuses the customer, a bare "ok", a fix that did not work, someone testing the line, a rude
reply. Deterministic for a seed. Used by `pls demo`, by the tests and by
`scripts/generate_golf_history.py`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

LINE_ID = "PNgolf0001"
LINE_NUMBER = "+19025550100"
OPERATORS = ("USalex", "USjamie", "USsam")
CODES = {"Bedford": "4512", "Dartmouth": "7788", "Halifax": "3391"}

# topic: (customer wordings, operator wordings); {loc} and {code} are filled per thread.
TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "door": (
        [
            "what's the door code for {loc}?",
            "hi, I'm at the {loc} location and the door is locked",
            "door code {loc} pls",
            "can't get in at {loc}",
            "whats the code to get into the {loc} studio",
            "we're outside {loc}, how do we get in?",
            "forgot the {loc} code again lol",
        ],
        [
            "The door code for {loc} is {code}. Enjoy your session!",
            "Hi! {loc} door code is {code}. Have fun!",
            "It's {code} for {loc}. Enjoy!",
        ],
    ),
    "frozen": (
        [
            "the simulator froze",
            "screen is frozen on bay {bay}",
            "sim is stuck on the loading screen",
            "game froze mid round what do I do",
            "bay {bay} stopped responding",
            "my simulator crashed",
        ],
        [
            "Sorry about that! Hold the power button on the PC under the screen for 10 seconds, then turn it back on. It takes about 2 minutes.",
            "So sorry! Please hold the PC power button (under the screen) for 10 sec and restart it, about 2 min to come back.",
            "Hold the power button on the PC for 10 seconds and turn it back on, it'll be back in ~2 minutes. We'll add 15 min to your booking.",
        ],
    ),
    "hours": (
        [
            "what are your hours?",
            "when are you open",
            "are you open on sunday",
            "how late are you open tonight",
            "what time do you open tomorrow",
        ],
        [
            "We're open every day from 7am to 11pm.",
            "Open 7am-11pm, 7 days a week!",
            "Every day 7am to 11pm, holidays included.",
        ],
    ),
    "pricing": (
        [
            "how much does it cost to book a bay",
            "what are your prices",
            "how much per hour",
            "price for 2 hours?",
            "how much for 4 players",
        ],
        [
            "A bay is $45 per hour for up to 4 players. Book at golfsim.example/book",
            "$45/hour per bay, up to 4 people. golfsim.example/book",
            "It's $45 an hour for the bay (max 4 players).",
        ],
    ),
    "booking": (
        [
            "how do I book",
            "can I reserve a bay for saturday",
            "any availability tonight?",
            "I want to book for 6 people tomorrow",
            "how far ahead can I book",
        ],
        [
            "You can book any bay online at golfsim.example/book, it shows live availability.",
            "Booking is online at golfsim.example/book. Availability updates live!",
            "Head to golfsim.example/book to reserve, you'll see every open slot there.",
        ],
    ),
    "refund": (
        [
            "can I get a refund for my booking",
            "I was charged twice",
            "I need to cancel and get my money back",
            "refund for yesterday, the sim didn't work",
            "when do I get my refund",
        ],
        [
            "Sorry to hear that. Refunds go back to your card within 5-7 business days; reply with your booking email and we'll process it.",
            "We can refund that! Send us the email on the booking, money is back on your card in 5-7 business days.",
            "No problem, reply with your booking email and we'll refund it (5-7 business days to show up).",
        ],
    ),
    "giftcard": (
        [
            "do you sell gift cards",
            "can I buy a gift card for my dad",
            "gift voucher available?",
            "do gift cards expire",
        ],
        [
            "Yes! Gift cards in any amount at golfsim.example/gift, and they never expire.",
            "We do, any amount at golfsim.example/gift. No expiry!",
        ],
    ),
    "lost": (
        [
            "I left my jacket in bay {bay}",
            "lost my phone at your place yesterday",
            "did anyone find a set of keys",
            "I think I forgot my glove there",
        ],
        [
            "We keep lost items at the front desk for 30 days. What did you lose and when were you in?",
            "Lost items stay at the front desk for 30 days, tell us what it is and when you were in and we'll check.",
        ],
    ),
}
WEIGHTS = {"door": 8, "frozen": 4, "hours": 3, "pricing": 3, "booking": 4, "refund": 2, "giftcard": 2, "lost": 2}
GREETINGS = ["hi", "hey", "hello", "Hi there"]
CLOSINGS = ["thanks!", "thank you", "perfect thanks", "great, thx", "👍", "got it"]


def _fill(template: str, rng: random.Random, loc: str) -> str:
    return template.format(loc=loc, code=CODES[loc], bay=rng.randint(1, 6))


class _Writer:
    """Builds message objects with increasing ids."""

    def __init__(self) -> None:
        self.count = 0

    def message(self, customer: str, incoming: bool, body: str, at: datetime, user: str | None) -> dict[str, Any]:
        self.count += 1
        return {
            "id": f"AC{self.count:08d}",
            "object": "message",
            "from": customer if incoming else LINE_NUMBER,
            "to": [LINE_NUMBER if incoming else customer],
            "direction": "incoming" if incoming else "outgoing",
            "body": body,
            "status": "received" if incoming else "delivered",
            "createdAt": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "userId": None if incoming else user,
            "phoneNumberId": LINE_ID,
            "conversationId": f"CN{customer[-7:]}",
        }


def _thread(rng: random.Random, w: _Writer, customer: str, at: datetime) -> Iterator[dict[str, Any]]:
    topic = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    asks, answers = TOPICS[topic]
    loc = rng.choice(list(CODES))
    user = rng.choice(OPERATORS)
    if rng.random() < 0.25:
        yield w.message(customer, True, rng.choice(GREETINGS), at, None)
        at += timedelta(seconds=rng.randint(5, 40))
    yield w.message(customer, True, _fill(rng.choice(asks), rng, loc), at, None)
    at += timedelta(minutes=rng.randint(1, 25))
    trouble = rng.random()
    if trouble < 0.04:  # a bare acknowledgement instead of an answer
        yield w.message(customer, False, rng.choice(["ok", "sure", "k"]), at, user)
        return
    if trouble < 0.08 and topic == "door":  # the wrong location's code confuses the customer
        other = rng.choice([x for x in CODES if x != loc])
        yield w.message(customer, False, _fill(rng.choice(answers), rng, other), at, user)
        at += timedelta(minutes=rng.randint(1, 5))
        yield w.message(customer, True, rng.choice(["what?", "that's not what I asked", "huh? I'm at " + loc]), at, None)
        at += timedelta(minutes=rng.randint(1, 5))
        yield w.message(customer, False, _fill(rng.choice(answers), rng, loc), at, user)
        return
    yield w.message(customer, False, _fill(rng.choice(answers), rng, loc), at, user)
    at += timedelta(minutes=rng.randint(2, 30))
    if trouble < 0.14 and topic == "frozen":  # the fix did not work and nobody followed up
        yield w.message(customer, True, rng.choice(["still frozen", "that didn't work", "still not working"]), at, None)
        return
    if rng.random() < 0.5:
        yield w.message(customer, True, rng.choice(CLOSINGS), at, None)


def generate_history(seed: int = 7, days: int = 60, per_day: int = 12, end: datetime | None = None) -> list[dict[str, Any]]:
    """Message objects of `days` days of traffic, oldest first; the same for the same arguments."""
    rng = random.Random(seed)
    end = end or datetime(2026, 11, 1, tzinfo=UTC)
    start = end - timedelta(days=days)
    customers = [f"+1902555{rng.randint(1000, 9999):04d}" for _ in range(max(20, per_day * 6))]
    writer = _Writer()
    messages: list[dict[str, Any]] = []
    for day in range(days):
        for _ in range(max(1, int(rng.gauss(per_day, per_day / 4)))):
            at = start + timedelta(days=day, hours=rng.uniform(7, 22.5))
            messages.extend(_thread(rng, writer, rng.choice(customers), at))
        if rng.random() < 0.1:  # staff testing the line
            at = start + timedelta(days=day, hours=rng.uniform(7, 9))
            messages.append(writer.message("+19025550199", True, "test", at, None))
            messages.append(writer.message("+19025550199", False, "testing 123", at + timedelta(seconds=30), "USsam"))
    # One operator lost their temper once.
        at = start + timedelta(days=days // 2, hours=21)
        messages.append(writer.message(customers[0], True, "why is the price so high", at, None))
        messages.append(
            writer.message(customers[0], False, "It's $45, deal with it, damn it", at + timedelta(minutes=3), "USjamie")
        )
    messages.sort(key=lambda m: (m["createdAt"], m["id"]))
    return messages


def write_history(path: Path, messages: list[dict[str, Any]]) -> Path:
    """Write messages as JSONL (one message object a line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages), encoding="utf-8")
    return path
