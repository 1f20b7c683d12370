"""The pattern head: fit, predict, serialise, and predictions from heads that never saw a row."""

from __future__ import annotations

import numpy as np
import pytest

from app.learning.head import PatternHead, fit_head, fit_with_holdouts, lbfgs


def clusters(seed: int = 0, per: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.vstack([np.eye(8)[i] * 3 + rng.normal(scale=0.5, size=(per, 8)) for i in range(4)])
    return x.astype(np.float32), np.repeat([10, 20, 30, 40], per)


def test_head_separates_clusters_and_skips_one_off_patterns() -> None:
    x, y = clusters()
    x = np.vstack([x, np.ones((1, 8), dtype=np.float32)])
    y = np.r_[y, 99]
    head = fit_head(x, y)
    assert head is not None
    assert sorted(head.pattern_ids.tolist()) == [10, 20, 30, 40]
    predicted = head.pattern_ids[head.predict_proba(x[:-1]).argmax(axis=1)]
    assert (predicted == y[:-1]).mean() == 1.0
    top = head.top(x[0], n=2)
    assert len(top) == 2 and max(top.items(), key=lambda kv: kv[1])[0] == 10


def test_head_needs_two_patterns() -> None:
    x, y = clusters()
    assert fit_head(x[:20], y[:20]) is None


def test_head_round_trips_through_bytes() -> None:
    x, y = clusters()
    head = fit_head(x, y)
    assert head is not None
    again = PatternHead.from_bytes(head.to_bytes())
    assert np.allclose(again.predict_proba(x), head.predict_proba(x))
    assert again.pattern_ids.tolist() == head.pattern_ids.tolist()


def test_holdout_predictions_come_from_heads_that_never_saw_the_rows() -> None:
    x, y = clusters(seed=1)
    # A row labelled 10 that sits in pattern 20's cluster.
    x[0] = x[25]
    final, predictions = fit_with_holdouts(x, y, [(np.array([0]), np.array([0]))])
    assert final is not None
    held_out = predictions[0][0]
    seen = dict(zip(final.pattern_ids.tolist(), final.predict_proba(x[0])[0].tolist(), strict=True))
    assert held_out.get(10, 0.0) < seen[10]
    assert max(held_out.items(), key=lambda kv: kv[1])[0] == 20


def test_lbfgs_minimises_a_quadratic() -> None:
    target = np.arange(5, dtype=np.float32)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        return float(((w - target) ** 2).sum()), 2 * (w - target)

    assert np.allclose(lbfgs(objective, np.zeros(5, dtype=np.float32), ftol=1e-12), target, atol=1e-3)


@pytest.mark.parametrize("n", [1, 3, 50])
def test_top_gives_the_largest_probabilities_of_predict_proba(n: int) -> None:
    rng = np.random.default_rng(5)
    head = PatternHead(
        np.arange(100, 107, dtype=np.int64),
        rng.standard_normal((16, 7)).astype(np.float32),
        rng.standard_normal(7).astype(np.float32),
    )
    query = rng.standard_normal(16).astype(np.float32)
    proba = head.predict_proba(query)[0]
    expected = {100 + int(i): float(proba[i]) for i in np.argsort(-proba)[:n]}
    got = head.top(query, n=n)
    assert got.keys() == expected.keys()
    assert list(got.values()) == pytest.approx([expected[p] for p in got], abs=1e-6)
