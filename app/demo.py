"""A little demo history (a golf-simulator business) so a newcomer sees PLS work at once."""

from __future__ import annotations

from app.learning.learner import Interaction
from app.services import Services

# (customer messages, the reply operators send to them). Wording varies as it does in real traffic.
DEMO_HISTORY: list[tuple[list[str], str]] = [
    (
        [
            "what's the door code for bedford?",
            "Hi, I'm at the Bedford location and the door is locked",
            "can't get in at bedford, code please",
            "door code bedford pls",
            "Bedford bay door won't open, what's the code?",
            "hey what is the code to get into the bedford studio",
        ],
        "The door code for Bedford is 4512. Enjoy your session!",
    ),
    (
        [
            "what's the door code for dartmouth?",
            "I'm outside the Dartmouth location, how do I get in",
            "dartmouth door code?",
            "locked out at dartmouth, need the code",
            "what is the entry code at the dartmouth studio",
            "Dartmouth door is locked",
        ],
        "The door code for Dartmouth is 7788. Enjoy your session!",
    ),
    (
        [
            "the simulator froze",
            "screen is frozen on bay 2",
            "my simulator stopped responding",
            "the sim is stuck on the loading screen",
            "game froze mid round what do I do",
            "simulator not working, it's frozen",
        ],
        "Sorry about that! Please hold the power button on the PC under the screen for 10 seconds, "
        "then turn it back on. It takes about 2 minutes to restart.",
    ),
    (
        [
            "what are your hours?",
            "when are you open",
            "are you open on sunday",
            "what time do you close tonight",
            "opening hours?",
            "how late are you open",
        ],
        "We're open every day from 7am to 11pm.",
    ),
    (
        [
            "how much does it cost to book a bay",
            "what are your prices",
            "how much per hour",
            "price for 2 hours?",
            "what's the hourly rate for a simulator",
            "how expensive is it",
        ],
        "A bay is $45 per hour, up to 4 players. Book at golfsim.example/book",
    ),
    (
        [
            "can I get a refund for my booking",
            "I need to cancel and get my money back",
            "how do refunds work",
            "I was charged twice, refund please",
            "refund for yesterday's session?",
            "want my money back, sim didn't work",
        ],
        "Sorry to hear that. Refunds go back to your card within 5-7 business days; "
        "reply with your booking email and we'll process it.",
    ),
    (
        [
            "do you sell gift cards",
            "can I buy a gift card for my dad",
            "gift certificate available?",
            "how do I buy a voucher",
            "looking for a gift card for a birthday",
            "do you have gift vouchers",
        ],
        "Yes! Gift cards are available in any amount at golfsim.example/gift",
    ),
    (
        [
            "I left my jacket in the bay",
            "lost my phone at your place yesterday",
            "did anyone find a set of keys",
            "I think I forgot my glove there",
            "left my wallet in bay 3",
            "lost and found?",
        ],
        "We keep lost items at the front desk for 30 days. What did you lose and when were you in?",
    ),
    (
        [
            "how do I book",
            "can I make a reservation for saturday",
            "I want to book a bay for tomorrow",
            "how to reserve a simulator",
            "is there availability tonight",
            "book a session for 4 people",
        ],
        "You can book any bay online at golfsim.example/book. It shows live availability.",
    ),
]


def demo_interactions() -> list[Interaction]:
    """The demo history as interactions, interleaved so it reads like a real day."""
    rounds = max(len(messages) for messages, _ in DEMO_HISTORY)
    out: list[Interaction] = []
    for i in range(rounds):
        for messages, reply in DEMO_HISTORY:
            if i < len(messages):
                out.append(Interaction(text=messages[i], reply=reply))
    return out


def load_demo(services: Services, tenant: str = "default", only_if_empty: bool = False) -> str:
    """Learn the demo history and calibrate; with only_if_empty, leave existing data alone."""
    if only_if_empty and services.store.count(tenant) > 0:
        return "demo data skipped: this tenant has learned examples already"
    summary = services.learner.learn_many(tenant, demo_interactions(), source="demo")
    services.calibration.fit(tenant)
    return f"demo data: {summary.learned} examples learned into {summary.new_patterns} new patterns"
