"""The word-CCA grouping: pairs that name the same people and things but ask different things
are grouped by what they ask."""

from __future__ import annotations

import random

import numpy as np

from app.learning.word_grouping import consensus_groups, word_views

PEOPLE = ["Mr Smith", "Anna Freeman", "Ms Hawkings", "David Miller", "Mr Jones"]
THINGS = ["bill", "invoice", "statement"]
ASKS = {
    # what the customer says -> words only the reply adds
    "check": (["check", "see", "look at", "view"], "open the billing page and read the amounts listed there"),
    "get": (["get", "download", "obtain", "receive"], "press export and save the pdf copy to your computer"),
    "cancel": (
        ["cancel", "stop", "void", "withdraw"],
        "choose the cancel option and confirm the request form",
    ),
}


def pairs(n_each: int, seed: int = 7) -> tuple[list[str], list[str], list[str]]:
    """Messages, replies and their asks; every reply repeats its message's person and thing."""
    rng = random.Random(seed)
    messages, replies, asks = [], [], []
    for ask, (verbs, added) in ASKS.items():
        for _ in range(n_each):
            person, thing, verb = rng.choice(PEOPLE), rng.choice(THINGS), rng.choice(verbs)
            messages.append(f"i want to {verb} the {thing} from {person}")
            kept = " ".join(rng.sample(added.split(), 6))
            replies.append(f"About the {thing} from {person}: {kept}.")
            asks.append(ask)
    return messages, replies, asks


def test_the_words_a_reply_adds_leave_out_what_it_repeats() -> None:
    _, added = word_views(["send the bill from anna"] * 3, ["the bill from anna is attached"] * 3)
    assert added.shape[1] == 2  # "is" and "attached": the repeated words are not there


def test_pairs_are_grouped_by_what_they_ask_not_by_whom_or_what_they_name() -> None:
    messages, replies, asks = pairs(40)
    groups = consensus_groups(messages, replies, groups=3)
    truth = np.array(asks)
    for group in set(groups.tolist()):
        members = truth[groups == group]
        assert len(set(members.tolist())) == 1, members  # each group holds one ask
    assert len(set(groups.tolist())) == 3
