"""Online grouping: identical replies share, rewordings merge, different facts never do."""

from __future__ import annotations

import numpy as np

from app.learning.grouping import PatternGrouper

DIM = 16


def unit(*weights: float) -> np.ndarray:
    """A unit vector with the given leading components."""
    v = np.zeros(DIM)
    v[: len(weights)] = weights
    return v / np.linalg.norm(v)


def learn(grouper: PatternGrouper, reply: str, reply_vec: np.ndarray, message_vec: np.ndarray) -> int:
    """Assign like the learner does: reuse a pattern or create the next id."""
    pid = grouper.assign(reply, reply_vec, message_vec)
    if pid is None:
        pid = max(grouper.pattern_ids, default=0) + 1
    grouper.add(pid, reply, reply_vec, message_vec)
    return pid


def test_identical_replies_share_a_pattern_whatever_the_vectors() -> None:
    g = PatternGrouper(dim=DIM)
    a = learn(g, "We open at 9am.", unit(1), unit(1))
    b = learn(g, "  we OPEN at 9am. ", unit(0, 1), unit(0, 0, 1))
    assert a == b


def test_reworded_reply_to_a_similar_message_joins() -> None:
    g = PatternGrouper(dim=DIM)
    a = learn(g, "You can park behind the building.", unit(1, 0.1), unit(0, 1, 0.1))
    b = learn(g, "Parking is behind our building.", unit(1, 0.2), unit(0, 1, 0.2))
    assert a == b


def test_similar_reply_to_an_unrelated_message_does_not_join() -> None:
    g = PatternGrouper(dim=DIM)
    a = learn(g, "You can park behind the building.", unit(1, 0.1), unit(0, 1))
    b = learn(g, "Parking is behind our building.", unit(1, 0.2), unit(0, 0, 0, 1))
    assert a != b


def test_door_codes_for_different_places_never_merge() -> None:
    g = PatternGrouper(dim=DIM)
    same_reply, same_message = unit(1), unit(0, 1)
    a = learn(g, "The door code for Bedford is 4512", same_reply, same_message)
    b = learn(g, "The door code for Dartmouth is 7788", same_reply, same_message)
    assert a != b
    assert g.consolidate(threshold=0.0) == {}


def test_consolidate_merges_rewordings_and_maps_old_ids() -> None:
    g = PatternGrouper(dim=DIM, join_threshold=0.99)
    a = learn(g, "Our opening hours are nine to five.", unit(1, 0.2), unit(0, 1, 0.2))
    b = learn(g, "We are open from nine until five.", unit(1, 0.6), unit(0, 1, 0.6))
    c = learn(g, "Sorry, we do not deliver.", unit(0, 0, 0, 1), unit(0, 0, 0, 0, 1))
    assert len({a, b, c}) == 3
    mapping = g.consolidate(threshold=0.8)
    assert mapping in ({b: a}, {a: b})
    assert len(g) == 2
    # The merged pattern still answers for both wordings.
    survivor = mapping.get(a, a)
    assert g.assign("We are open from nine until five.", unit(0, 0, 1), unit(0, 0, 1)) == survivor
    assert g.pattern_of_reply("Our opening hours are nine to five.") == survivor


def test_many_rewordings_of_one_answer_stay_one_pattern() -> None:
    g = PatternGrouper(dim=DIM)
    words = ["parking", "car park", "parking lot", "garage", "spaces"]
    for i in range(200):
        reply = f"Our {words[i % 5]} is behind the building, variant {'x' * (i % 13)}"
        learn(g, reply, unit(1, 0.05 * (i % 7)), unit(0, 1, 0.05 * (i % 5)))
    assert len(g) == 1


def test_replies_that_differ_only_in_a_number_stay_apart() -> None:
    g = PatternGrouper(dim=DIM)
    ids = {learn(g, f"Your table for {n} is booked", unit(1), unit(0, 1)) for n in (2, 4, 6)}
    assert len(ids) == 3


def test_adding_many_at_once_equals_adding_one_by_one() -> None:
    rng = np.random.default_rng(3)
    n, dim = 300, 16
    pattern_ids = rng.integers(1, 40, n).tolist()  # patterns come and recur in any order
    replies = [f"The door code for site {p % 7} is {4000 + p}." for p in pattern_ids]
    replies[5] = replies[9]  # one reply text filed under two patterns: the first keeps it
    messages = [f"code for {p % 7} please, order 12345{i % 3}" for i, p in enumerate(pattern_ids)]
    reply_vecs = rng.normal(size=(n, dim)).astype(np.float32)
    message_vecs = rng.normal(size=(n, dim)).astype(np.float32)
    one_by_one, at_once = PatternGrouper(dim=dim), PatternGrouper(dim=dim)
    for i, pattern_id in enumerate(pattern_ids):
        one_by_one.add(pattern_id, replies[i], reply_vecs[i], message_vecs[i], message=messages[i])
    at_once.add_many(pattern_ids, replies, reply_vecs, message_vecs, messages)

    assert at_once.pattern_ids == one_by_one.pattern_ids
    assert at_once._by_reply == one_by_one._by_reply
    for pattern_id in one_by_one.pattern_ids:
        a, b = at_once._patterns[pattern_id], one_by_one._patterns[pattern_id]
        assert (a.row, a.count, a.facts, a.replies) == (b.row, b.count, b.facts, b.replies)
    rows = len(one_by_one.pattern_ids)
    for name in ("_reply_sum", "_message_sum", "_count"):
        np.testing.assert_allclose(getattr(at_once, name)[:rows], getattr(one_by_one, name)[:rows], atol=1e-9)
    probe = rng.normal(size=dim).astype(np.float32)
    assert at_once.assign("Something else.", probe, probe) == one_by_one.assign(
        "Something else.", probe, probe
    )
