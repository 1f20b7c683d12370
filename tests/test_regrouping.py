"""Regrouping differently worded examples by their words keeps the learner's rule on key facts."""

from __future__ import annotations

import pytest

from app.learning import word_grouping
from app.learning.facts import facts_conflict, key_facts
from app.learning.regrouping import regroup
from tests.test_word_grouping import pairs


def asks_of(groups: list[list[int]], asks: list[str]) -> list[set[str]]:
    return [{asks[i] for i in group} for group in groups]


def test_replies_stating_different_fees_never_share_a_group() -> None:
    messages, replies, asks = pairs(40)
    cancels = [i for i, ask in enumerate(asks) if ask == "cancel"]
    for n, i in enumerate(cancels):
        replies[i] += " The fee is $10." if n < 20 else " The fee is $25."
    groups = regroup(messages, replies, groups=3)
    assert all(len(a) == 1 for a in asks_of(groups, asks))  # each group one ask
    facts = [key_facts(r, m) for m, r in zip(messages, replies, strict=True)]
    for group in groups:
        assert not any(facts_conflict(facts[i], facts[j]) for i in group for j in group)
    fee_groups = [sorted({f for i in g for f in facts[i]}) for g in groups if asks[g[0]] == "cancel"]
    assert sorted(fee_groups) == [["money:$10"], ["money:$25"]]


# None: each of the 120 pairs votes; 40: they vote in 40 units of alike pairs.
@pytest.mark.parametrize("voters", [None, 40])
def test_a_few_replies_with_a_fee_of_their_own_are_not_filed_under_another_ask(
    voters: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if voters is not None:
        monkeypatch.setattr(word_grouping, "MAX_VOTERS", voters)
    messages, replies, asks = pairs(40)
    cancels = [i for i, ask in enumerate(asks) if ask == "cancel"]
    odd = cancels[:3]
    for i in cancels:
        replies[i] += " The fee is $25." if i in odd else " The fee is $10."
    groups = regroup(messages, replies, groups=3)
    # Too few to be a group of their own by the vote, and voted with nothing else they could
    # join (the other asks state no fee, but are other asks): they stay a pattern apart.
    assert sorted(odd) in groups
    assert all(len(a) == 1 for a in asks_of(groups, asks))


def test_too_few_pairs_or_groups_is_one_group() -> None:
    assert regroup(["a"], ["b"], groups=3) == [[0]]
    assert regroup(["a", "b", "c"], ["x", "y", "z"], groups=1) == [[0, 1, 2]]
    assert regroup([], [], groups=3) == []
