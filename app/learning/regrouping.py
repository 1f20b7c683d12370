"""Regrouping examples whose replies are all worded differently, once a bulk import is in.

The online grouper files each example as it comes, by how alike its reply and message are to
each pattern's. Where every operator words every reply anew, sentence vectors group examples
by the names and things they mention as much as by what is asked, and patterns mix asks. With
the whole history in hand, the words do better: `word_grouping` votes over word-CCA partitions
(the words a reply adds to its message follow the request, the words it repeats do not).

The groups then keep the learner's rule on key facts: replies that state different values of
a fact (an amount, a code) never share a group. A group is split along such conflicts; a group
or split of fewer than `SMALL_SPLIT` examples would be a pattern for a handful of replies, so
each of its examples joins the group it was most often voted with among those whose facts it
does not contradict, unless the votes hardly ever put it there. (On Bitext's 27 intents,
joining wherever they fit filed most of such examples under other intents, some voted with
their new group once in a hundred partitions; keeping apart every example voted with its new
group less than half the time made 77 patterns.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from app.learning.facts import facts_conflict, key_facts
from app.learning.word_grouping import Votes, co_association

# A group or split this small joins another group...
SMALL_SPLIT = 5
# ...where the votes put its examples with that group's members at least this often; below,
# they were voted with nothing like them, and stay a pattern of their own.
JOIN_VOTES = 0.1


@dataclass
class _Group:
    facts: set[str] = field(default_factory=set)
    members: list[int] = field(default_factory=list)

    def take(self, index: int, facts: frozenset[str]) -> None:
        self.facts |= facts
        self.members.append(index)


def regroup(messages: Sequence[str], replies: Sequence[str], groups: int) -> list[list[int]]:
    """Indices of the pairs of each group, largest group first: `groups` groups, and more
    where key facts split them."""
    if len(messages) < 2 or groups < 2:
        return [list(range(len(messages)))] if messages else []
    votes = co_association(messages, replies, groups)
    facts = [key_facts(reply, message) for message, reply in zip(messages, replies, strict=True)]
    found = _groups_keeping_facts_apart(votes, facts, groups)
    return sorted((sorted(group.members) for group in found), key=len, reverse=True)


def _groups_keeping_facts_apart(votes: Votes, facts: Sequence[frozenset[str]], groups: int) -> list[_Group]:
    labels = votes.cut(groups)
    kept: list[_Group] = []
    small: list[_Group] = []
    for label in np.unique(labels):
        for split in split_by_facts(np.flatnonzero(labels == label).tolist(), facts):
            (kept if len(split.members) >= SMALL_SPLIT else small).append(split)
    if not kept:
        kept, small = small, []
    for split in small:
        alone = _Group()  # where the split's examples go that no group takes
        for index in split.members:
            home = _most_voted_compatible(index, facts[index], kept, votes) or alone
            home.take(index, facts[index])
        if alone.members:
            kept.append(alone)
    return kept


def split_by_facts(members: Sequence[int], facts: Sequence[frozenset[str]]) -> list[_Group]:
    """The members in as few groups as keep conflicting facts apart, largest first.

    Greedy, the examples stating most facts first, so the groups form around them and the
    examples stating none join the first (largest) group.
    """
    splits: list[_Group] = []
    for index in sorted(members, key=lambda i: -len(facts[i])):
        home = next((s for s in splits if not facts_conflict(facts[index], s.facts)), None)
        if home is None:
            home = _Group()
            splits.append(home)
        home.take(index, facts[index])
    return sorted(splits, key=lambda s: len(s.members), reverse=True)


def _most_voted_compatible(
    index: int, facts: frozenset[str], groups: Sequence[_Group], votes: Votes
) -> _Group | None:
    best, best_share = None, -1.0
    for group in groups:
        if facts_conflict(facts, group.facts):
            continue
        share = votes.with_members(index, group.members)
        if share > best_share:
            best, best_share = group, share
    return best if best_share >= JOIN_VOTES else None
