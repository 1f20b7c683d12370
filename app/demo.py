"""Demo data (a golf-simulator business) so a newcomer sees PLS work at once.

`pls demo` imports a generated message history (app/demo_history.py); DEMO_HISTORY below is a
small hand-written set of texts that benchmarks fall back on when the dev data is absent.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from app.learning.learner import Interaction
from app.models import Example
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
            "forgot the bedford code again lol",
            "how do i get into bedford tonight",
            "is the bedford keypad code still the same",
            "need the code for the bedford door asap",
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
            "whats the dartmouth keypad code",
            "how do we get in at dartmouth",
            "code for dartmouth please, we are outside",
            "dartmouth entry code?",
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
            "my screen froze",
            "bay 4 is stuck and won't respond",
            "the projector image is frozen",
            "sim crashed, what now?",
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
            "what time do you open tomorrow",
            "are you open on holidays",
            "open right now?",
            "hours this weekend?",
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
            "how much is a session",
            "cost for 4 players?",
            "do you have weekday rates",
            "what do you charge per bay",
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
            "please refund my booking",
            "can i get my money back for tonight",
            "refund status?",
            "i cancelled, when do i get my refund",
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
            "can i gift a session to a friend",
            "where do i buy a gift card",
            "gift card for christmas?",
            "do gift cards expire",
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
            "i left my sunglasses in the bay",
            "did you find a black umbrella",
            "forgot my hat yesterday",
            "lost my car keys there last night",
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
            "can i reserve bay 2 for friday",
            "how far ahead can i book",
            "need a booking for 6pm",
            "reserve a sim for two hours",
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
    """Import two months of a golf-simulator business's messages; with only_if_empty, leave data alone.

    The history goes through `pls import openphone` exactly as a real export would: threads are
    rebuilt, bad replies voided, calibration refitted and candidate patterns discovered.
    """
    from app.demo_history import generate_history, write_history
    from app.importers.openphone import KIND, openphone_records
    from app.importers.runner import run_import
    from app.importers.runs import file_fingerprint

    if only_if_empty:
        with Session(services.engine) as session:
            if session.exec(select(Example.id).where(Example.tenant == tenant).limit(1)).first() is not None:
                return "demo data skipped: this tenant has learned examples already"
    path = write_history(services.settings.var_dir / "demo" / "golf-history.jsonl", generate_history())
    data = path.read_bytes()
    records = openphone_records(path, data)
    summary = run_import(
        services,
        tenant=tenant,
        kind=KIND,
        path=str(path),
        fingerprint=file_fingerprint(data, KIND, ""),
        records=records,
        total=len(records),
    )
    return (
        f"demo data: {path} imported: {summary.learned} examples learned, {summary.voided} voided "
        f"({dict(summary.void_reasons)}), {summary.candidates} candidate patterns discovered"
    )


def demo_key(services: Services, tenant: str = "default") -> tuple[str, Path]:
    """An admin key for trying the demo, kept in var/demo-api-key so restarts show the same one."""
    from app.auth import Unauthorized, authenticate, create_key
    from app.db import session_scope

    path = services.settings.var_dir / "demo-api-key"
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        try:
            if authenticate(services.engine, key).tenant == tenant:
                return key, path
        except Unauthorized:
            pass  # revoked or from an older database: make a new one
    with session_scope(services.engine) as session:
        _, key = create_key(session, tenant, "admin", "demo")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(0o600)
    return key, path
