"""Calibrator, precision thresholds, ECE and the calibration set built from PLS's own data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.learning.calibration import (
    NEVER,
    Calibrator,
    FeedbackRow,
    build_calibration_set,
    choose_thresholds,
    expected_calibration_error,
    threshold_for_precision,
)
from app.learning.scoring import FEATURE_NAMES, PatternStats
from indexer.store import Hit


def calibrated_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and outcomes drawn so that each probability is exactly right."""
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0, 1, n)
    return probs, rng.random(n) < probs


def test_threshold_meets_the_target_precision_on_new_data() -> None:
    probs, correct = calibrated_sample(20000, seed=1)
    t = threshold_for_precision(probs, correct, 0.9)
    assert 0.8 < t < 0.9
    fresh_probs, fresh_correct = calibrated_sample(20000, seed=2)
    assert fresh_correct[fresh_probs >= t].mean() >= 0.9


def test_threshold_is_conservative_with_little_data() -> None:
    probs, correct = calibrated_sample(20000, seed=3)
    small = threshold_for_precision(probs[:200], correct[:200], 0.9)
    large = threshold_for_precision(probs, correct, 0.9)
    assert small > large


def test_unreachable_precision_means_never() -> None:
    assert threshold_for_precision(np.array([0.9, 0.8]), np.array([False, True]), 0.98) == NEVER
    assert threshold_for_precision(np.array([]), np.array([]), 0.9) == NEVER


def test_ece_is_near_zero_when_calibrated_and_large_when_not() -> None:
    probs, correct = calibrated_sample(50000, seed=4)
    assert expected_calibration_error(probs, correct, bins=10) < 0.01
    overconfident = np.full(1000, 0.95)
    coin = np.arange(1000) % 2 == 0
    assert abs(expected_calibration_error(overconfident, coin) - 0.45) < 1e-9


def rows_from(signal: np.ndarray) -> np.ndarray:
    """Full feature rows whose every column carries `signal`."""
    return np.repeat(signal[:, None], len(FEATURE_NAMES), axis=1)


def test_calibrator_learns_a_calibrated_mapping_and_round_trips() -> None:
    rng = np.random.default_rng(5)
    signal = rng.normal(size=5000)
    truth = 1 / (1 + np.exp(-2 * signal))
    correct = rng.random(5000) < truth
    calibrator = Calibrator.fit(rows_from(signal), correct)
    probs = calibrator.predict(rows_from(signal))
    assert expected_calibration_error(probs, correct) < 0.03
    stored = json.loads(json.dumps(calibrator.to_dict()))
    again = Calibrator.from_dict(stored)
    assert np.allclose(again.predict(rows_from(signal)), probs)


def test_from_dict_rejects_unknown_features() -> None:
    data = Calibrator.fit(rows_from(np.arange(20.0)), np.arange(20) % 2 == 0).to_dict()
    data["feature_names"] = ["no_such_feature"] * len(data["feature_names"])  # type: ignore[arg-type]
    try:
        Calibrator.from_dict(data)
    except ValueError as error:
        assert "no_such_feature" in str(error)
    else:  # pragma: no cover
        raise AssertionError("expected ValueError")


def clustered_memory(seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[int, PatternStats]]:
    """Six tight patterns of 30 examples in 12 dimensions, plus two one-off examples."""
    rng = np.random.default_rng(seed)
    centres = np.eye(12)[:6] * 3
    vectors = [c + rng.normal(scale=0.4, size=12) for c in centres for _ in range(30)]
    labels = [p + 1 for p in range(6) for _ in range(30)]
    vectors += [rng.normal(size=12) + np.eye(12)[10] * 3, rng.normal(size=12) + np.eye(12)[11] * 3]
    labels += [7, 8]
    x = np.array(vectors, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.array(labels)
    stats = {
        int(p): PatternStats(int((ids == p).sum()), centroid=x[ids == p].mean(0)) for p in np.unique(ids)
    }
    return x, ids, stats


def exact_search(x: np.ndarray, labels: np.ndarray):  # type: ignore[no-untyped-def]
    """A numpy stand-in for the vector index."""

    def search(queries: np.ndarray, k: int) -> list[list[Hit]]:
        sims = queries @ x.T
        order = np.argsort(-sims, axis=1)[:, :k]
        return [
            [Hit(int(j), int(labels[j]), float(s[j]), "active") for j in row]
            for row, s in zip(order, sims, strict=True)
        ]

    return search


def test_calibration_set_has_loo_unseen_and_feedback_rows() -> None:
    x, labels, stats = clustered_memory()
    feedback = [FeedbackRow(np.zeros(len(FEATURE_NAMES)), accepted=False, weight=2.0)]
    cal = build_calibration_set(
        x, labels, np.arange(len(labels)), exact_search(x, labels), stats, k=10, feedback=feedback
    )
    kinds = list(cal.kinds)
    assert kinds.count("loo") == len(labels)
    assert kinds.count("unseen") > 0 and kinds[-1] == "feedback"
    loo = cal.kinds == "loo"
    # Tight patterns are matched right; a one-off example has nothing left to match.
    assert cal.correct[loo][:180].mean() > 0.95
    assert not cal.correct[loo][180:].any()
    assert not cal.correct[cal.kinds == "unseen"].any()
    unseen_weight = cal.weights[cal.kinds == "unseen"].sum()
    assert abs(unseen_weight / cal.weights.sum() - 0.15) < 0.02
    assert cal.weights[-1] == 2.0
    assert cal.head is not None and cal.head.size == 6


def test_head_features_in_calibration_are_out_of_fold() -> None:
    x, labels, stats = clustered_memory(seed=1)
    # An example of pattern 1 that sits in pattern 2's cluster: a head that saw it would
    # give pattern 1 some probability there; one that did not, almost none.
    x[0] = x[40]
    cal = build_calibration_set(x, labels, np.arange(len(labels)), exact_search(x, labels), stats, k=10)
    head_prob = cal.features[0, FEATURE_NAMES.index("head_prob")]
    assert cal.head is not None
    seen = dict(zip(cal.head.pattern_ids.tolist(), cal.head.predict_proba(x[0])[0].tolist(), strict=True))
    assert not cal.correct[0]
    assert seen[1] > 0.05 and head_prob > 0.5  # the row's top candidate is pattern 2, confidently


def test_choose_thresholds_orders_suggest_below_auto() -> None:
    x, labels, stats = clustered_memory(seed=2)
    cal = build_calibration_set(x, labels, np.arange(len(labels)), exact_search(x, labels), stats, k=10)
    calibrator, thresholds, oof = choose_thresholds(cal)
    assert 0.0 <= thresholds.suggest <= thresholds.auto <= NEVER
    assert oof.shape == (len(cal),)
    assert calibrator.predict(cal.features).shape == (len(cal),)


def test_predict_rows_gives_the_numbers_of_predict() -> None:
    rng = np.random.default_rng(11)
    features = rng.normal(size=(300, len(FEATURE_NAMES)))
    correct = features[:, FEATURE_NAMES.index("head_prob")] + rng.normal(scale=0.5, size=300) > 0
    calibrator = Calibrator.fit(features, correct)
    rows = [tuple(row) for row in features[:5]]
    assert calibrator.predict_rows(rows) == pytest.approx(
        calibrator.predict(features[:5]).tolist(), abs=1e-12
    )
