"""Candidate features and decisions from neighbours, pattern stats and the head."""

from __future__ import annotations

import numpy as np

from app.learning.calibration import Calibrator
from app.learning.scoring import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    PatternStats,
    Thresholds,
    decide,
    score_candidates,
)
from indexer.store import Hit

STATS = {1: PatternStats(support=10), 2: PatternStats(support=10)}


def hits(*pairs: tuple[int, float]) -> list[Hit]:
    """Hits from (pattern id, similarity) pairs, example ids in order."""
    return [Hit(i, pid, score, "active") for i, (pid, score) in enumerate(pairs)]


def feature(candidate: object, name: str) -> float:
    return float(candidate.features[FEATURE_INDEX[name]])  # type: ignore[attr-defined]


def test_feature_rows_follow_feature_names() -> None:
    cands = score_candidates(hits((1, 0.9), (1, 0.85), (2, 0.6)), None, STATS)
    assert len(cands[0].features) == len(FEATURE_NAMES)
    assert set(cands[0].feature_dict()) == set(FEATURE_NAMES)


def test_clear_neighbours_rank_their_pattern_first_with_a_margin() -> None:
    cands = score_candidates(hits((1, 0.92), (1, 0.9), (1, 0.88), (2, 0.6)), None, STATS)
    best = cands[0]
    assert best.pattern_id == 1
    assert feature(best, "vote_share") > 0.95
    assert feature(best, "sim_margin") > 0.25
    assert feature(cands[1], "sim_margin") < 0


def test_query_between_two_patterns_has_no_margin() -> None:
    cands = score_candidates(hits((1, 0.8), (2, 0.8), (1, 0.79), (2, 0.79)), None, STATS)
    assert abs(feature(cands[0], "sim_margin")) < 1e-9
    assert abs(feature(cands[0], "vote_share") - 0.5) < 0.02


def test_head_probability_ranks_and_adds_candidates() -> None:
    head = {2: 0.9, 1: 0.05, 3: 0.05}
    stats = {**STATS, 3: PatternStats(support=4)}
    cands = score_candidates(hits((1, 0.81), (2, 0.8)), None, stats, head)
    assert cands[0].pattern_id == 2
    assert feature(cands[0], "head_prob") == 0.9
    assert feature(cands[0], "in_head") == 1.0
    # Pattern 3 has no neighbour: the last neighbour's similarity bounds it.
    third = next(c for c in cands if c.pattern_id == 3)
    assert feature(third, "sim_best") == 0.8


def test_patterns_without_stats_and_voided_examples_are_ignored() -> None:
    voided = [Hit(0, 1, 0.99, "voided"), Hit(1, 9, 0.95, "active"), Hit(2, 2, 0.7, "active")]
    cands = score_candidates(voided, None, STATS)
    assert [c.pattern_id for c in cands] == [2]


def test_centroid_similarity_uses_the_query_vector() -> None:
    stats = {1: PatternStats(support=3, centroid=np.array([2.0, 0.0]))}
    cands = score_candidates(hits((1, 0.5)), np.array([0.6, 0.8]), stats)
    assert abs(feature(cands[0], "centroid_sim") - 0.6) < 1e-6


def _calibrator() -> Calibrator:
    """A calibrator that learned: high similarity with a clear margin means right."""
    rng = np.random.default_rng(0)
    rows, right = [], []
    for _ in range(400):
        sim = rng.uniform(0.2, 1.0)
        margin = rng.uniform(0.0, 0.4)
        cands = score_candidates(hits((1, sim), (2, sim - margin)), None, STATS)
        rows.append(cands[0].features)
        right.append(rng.random() < min(1.0, max(0.0, 2 * (sim - 0.5) + 2 * margin)))
    return Calibrator.fit(np.vstack(rows), np.array(right))


def test_far_or_ambiguous_query_gets_low_confidence() -> None:
    calibrator = _calibrator()
    thresholds = Thresholds(suggest=0.6, auto=0.9)
    sure = decide(
        score_candidates(hits((1, 0.95), (1, 0.93), (2, 0.55)), None, STATS), calibrator, thresholds
    )
    far = decide(score_candidates(hits((1, 0.25), (2, 0.24)), None, STATS), calibrator, thresholds)
    between = decide(score_candidates(hits((1, 0.8), (2, 0.8)), None, STATS), calibrator, thresholds)
    assert sure.action == "auto" and sure.pattern_id == 1
    assert far.action == "none" and far.confidence < 0.2
    assert between.confidence < sure.confidence
    assert between.action != "auto"


def test_decision_explains_itself() -> None:
    decision = decide(
        score_candidates(hits((1, 0.9), (2, 0.5)), None, STATS), _calibrator(), Thresholds(0.5, 0.9)
    )
    explained = decision.explain()
    assert explained["runner_up"] == 2
    assert explained["neighbours"][0] == {"example_id": 0, "pattern_id": 1, "similarity": 0.9}
    assert set(explained["features"]) == set(FEATURE_NAMES)


def test_no_candidates_means_no_answer() -> None:
    decision = decide([], _calibrator(), Thresholds(0.5, 0.9))
    assert decision.pattern_id is None and decision.action == "none" and decision.confidence == 0.0
