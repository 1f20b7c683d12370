"""Per-pattern evidence from the nearest neighbours and the head, and the decision it leads to.

`score_candidates` turns the k nearest examples of a query (plus pattern statistics and the
head's probabilities) into one feature row per candidate pattern, in `FEATURE_NAMES` order,
and ranks the candidates. `decide` turns the best candidate's calibrated confidence into
"auto", "suggest" or "none", keeping everything needed to explain it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from indexer.schema import SEARCHABLE_STATUSES
from indexer.store import Hit

FEATURE_NAMES: tuple[str, ...] = (
    "sim_best",  # similarity of the pattern's nearest example
    "sim_top3",  # mean similarity of its three nearest examples
    "vote_share",  # similarity-weighted share of the neighbours that belong to it
    "count_share",  # plain share of the neighbours that belong to it
    "sim_margin",  # sim_best minus the best similarity of any other pattern
    "vote_margin",  # vote_share minus the largest other vote share
    "top_sim",  # similarity of the nearest example overall: how familiar the query is
    "log_support",  # log(1 + active examples of the pattern)
    "quality",  # mean example quality of the pattern
    "posterior_mean",  # feedback posterior mean, alpha / (alpha + beta)
    "centroid_sim",  # cosine between the query and the pattern's mean message vector
    "head_prob",  # the head's probability for the pattern
    "head_margin",  # log head_prob minus log of the largest other head probability
    "in_head",  # 1 when the head knows the pattern
)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
# What the calibrator looks at. Support and head membership stay in the explanation but out of
# the fit: in leave-one-out data they mostly tell one-off patterns apart, and that does not
# carry over to new traffic.
CALIBRATION_FEATURES: tuple[str, ...] = (
    "sim_best",
    "sim_top3",
    "vote_share",
    "sim_margin",
    "top_sim",
    "centroid_sim",
    "head_prob",
    "head_margin",
    "posterior_mean",
    "quality",
)

# Sharp enough that a neighbour 0.1 less similar counts e^-2 as much: near ties still share.
VOTE_TEMPERATURE = 0.05
# Candidates are ranked mostly by the head (the better classifier) with the neighbour vote as a
# tie-breaker and as the only signal for patterns the head does not know yet.
HEAD_WEIGHT = 0.7
_EPS = 1e-4


@dataclass(frozen=True)
class PatternStats:
    """What the matcher knows about a pattern besides its examples' vectors."""

    support: int
    mean_quality: float = 1.0
    alpha: float = 1.0
    beta: float = 1.0
    # Mean or normalised mean of the pattern's message vectors: only its direction is used.
    centroid: np.ndarray | None = field(default=None, repr=False)
    # The centroid scaled to unit length (None for a zero or missing centroid), computed once
    # here rather than for every query the pattern is a candidate for.
    direction: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.centroid is None:
            return
        centroid = np.asarray(self.centroid, dtype=np.float32)
        norm = float(np.linalg.norm(centroid))
        if norm > 0:
            object.__setattr__(self, "direction", centroid / norm)


@dataclass(frozen=True)
class Candidate:
    """One pattern the query might belong to, with its evidence."""

    pattern_id: int
    features: Sequence[float] = field(repr=False)
    hits: tuple[Hit, ...] = ()

    def feature_dict(self) -> dict[str, float]:
        """Features by name, for explanations and logs."""
        return {name: float(v) for name, v in zip(FEATURE_NAMES, self.features, strict=True)}


def score_candidates(
    hits: Sequence[Hit],
    query_vector: np.ndarray | None,
    stats: Mapping[int, PatternStats],
    head_proba: Mapping[int, float] | None = None,
    *,
    max_candidates: int = 5,
) -> list[Candidate]:
    """Feature rows for the patterns the neighbours or the head point at, best first.

    Only patterns present in `stats` are candidates, so disabled or deleted patterns drop out
    even if the index still returns their examples.
    """
    usable = [h for h in hits if h.status in SEARCHABLE_STATUSES and h.pattern_id in stats]
    usable.sort(key=lambda h: h.score, reverse=True)
    head = head_proba or {}
    by_pattern: dict[int, list[Hit]] = {}
    for h in usable:
        by_pattern.setdefault(h.pattern_id, []).append(h)
    pool = set(by_pattern)
    pool.update(p for p, prob in head.items() if p in stats and prob >= 0.01)
    if not pool:
        return []

    top_sim = usable[0].score if usable else 0.0
    # A pattern with no example among the neighbours is at most as similar as the last one.
    floor = usable[-1].score if usable else 0.0
    weights = {p: 0.0 for p in pool}
    for h in usable:
        weights[h.pattern_id] += max(h.quality, 0.0) * math.exp((h.score - top_sim) / VOTE_TEMPERATURE)
    total_weight = sum(weights.values()) or 1.0
    n_hits = max(len(usable), 1)
    best_sim = {p: (by_pattern[p][0].score if p in by_pattern else floor) for p in pool}
    vote = {p: w / total_weight for p, w in weights.items()}
    # The two largest of each, so every "margin over the others" is O(1) per candidate.
    sims2 = sorted(best_sim.values(), reverse=True)[:2] + [floor, floor]
    votes2 = sorted(vote.values(), reverse=True)[:2] + [0.0, 0.0]
    heads2 = sorted(head.values(), reverse=True)[:2] + [0.0, 0.0]
    q = None if query_vector is None else np.asarray(query_vector, dtype=np.float32)
    has_head = head_proba is not None and len(head) > 0

    def rank_of(p: int) -> float:
        return HEAD_WEIGHT * float(head.get(p, 0.0)) + (1 - HEAD_WEIGHT) * vote[p] if has_head else vote[p]

    # Ranked before any features are built: only the few best are worth building a row for.
    ranked = [
        p for _, _, p in sorted(((rank_of(p), best_sim[p], p) for p in pool), reverse=True)[:max_candidates]
    ]
    out: list[Candidate] = []
    for p in ranked:
        st = stats[p]
        mine = by_pattern.get(p, [])
        sims = [h.score for h in mine[:3]] + [floor] * (3 - min(len(mine), 3))
        other_sim = sims2[1] if best_sim[p] >= sims2[0] else sims2[0]
        other_vote = votes2[1] if vote[p] >= votes2[0] else votes2[0]
        hp = float(head.get(p, 0.0))
        other_head = heads2[1] if hp >= heads2[0] else heads2[0]
        centroid_sim = best_sim[p]
        if q is not None and st.direction is not None:
            centroid_sim = float(st.direction @ q)
        # A plain tuple: a numpy row per candidate costs more than the arithmetic above, and
        # the calibrator stacks the rows it scores anyway.
        features = (
            best_sim[p],
            sum(sims) / 3.0,
            vote[p],
            len(mine) / n_hits,
            best_sim[p] - other_sim,
            vote[p] - other_vote,
            top_sim,
            math.log1p(max(st.support, 0)),
            st.mean_quality,
            st.alpha / max(st.alpha + st.beta, _EPS),
            centroid_sim,
            hp,
            math.log(hp + _EPS) - math.log(other_head + _EPS),
            1.0 if p in head else 0.0,
        )
        out.append(Candidate(pattern_id=p, features=features, hits=tuple(mine)))
    return out


class Scorer(Protocol):
    """Anything that maps feature rows to probabilities (a fitted `Calibrator`)."""

    def predict_rows(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Probability that each row's pattern is the right answer."""
        ...


@dataclass(frozen=True)
class Thresholds:
    """Confidence cut-offs derived from target precisions."""

    suggest: float
    auto: float
    suggest_target: float = 0.90
    auto_target: float = 0.98


@dataclass(frozen=True)
class Decision:
    """What to do with a message, and why."""

    pattern_id: int | None
    confidence: float
    runner_up: int | None
    runner_up_confidence: float
    action: str
    threshold: float
    features: dict[str, float]
    neighbours: tuple[Hit, ...]
    candidates: tuple[Candidate, ...] = ()

    def explain(self) -> dict[str, Any]:
        """A JSON-ready account of the decision."""
        return {
            "action": self.action,
            "pattern_id": self.pattern_id,
            "confidence": round(self.confidence, 4),
            "threshold": round(self.threshold, 4),
            "runner_up": self.runner_up,
            "runner_up_confidence": round(self.runner_up_confidence, 4),
            "features": {k: round(v, 4) for k, v in self.features.items()},
            "neighbours": [
                {"example_id": h.example_id, "pattern_id": h.pattern_id, "similarity": round(h.score, 4)}
                for h in self.neighbours
            ],
        }


def decide(candidates: Sequence[Candidate], calibrator: Scorer, thresholds: Thresholds) -> Decision:
    """Calibrated confidence of the best candidate and the action it clears."""
    if not candidates:
        return Decision(None, 0.0, None, 0.0, "none", thresholds.suggest, {}, ())
    probs = calibrator.predict_rows([c.features for c in candidates[:2]])
    best = candidates[0]
    confidence = float(probs[0])
    runner = candidates[1] if len(candidates) > 1 else None
    if confidence >= thresholds.auto:
        action, threshold = "auto", thresholds.auto
    elif confidence >= thresholds.suggest:
        action, threshold = "suggest", thresholds.suggest
    else:
        action, threshold = "none", thresholds.suggest
    neighbours = tuple(h for c in candidates for h in c.hits)
    return Decision(
        pattern_id=best.pattern_id,
        confidence=confidence,
        runner_up=runner.pattern_id if runner else None,
        runner_up_confidence=float(probs[1]) if runner else 0.0,
        action=action,
        threshold=threshold,
        features=best.feature_dict(),
        neighbours=tuple(sorted(neighbours, key=lambda h: h.score, reverse=True)),
        candidates=tuple(candidates),
    )
