"""Calibrated confidence: from a best candidate's features to the probability that it is right.

The training data comes only from what PLS already has (see `build_calibration_set`), and the
thresholds for "suggest" and "auto" are chosen from target precisions with a lower confidence
bound, so the precision they promise holds on new traffic rather than only on this data.
"""

from __future__ import annotations

import math
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np
from scipy.optimize import minimize

from app.learning.head import PatternHead, fit_with_holdouts
from app.learning.scoring import (
    CALIBRATION_FEATURES,
    FEATURE_INDEX,
    FEATURE_NAMES,
    PatternStats,
    Thresholds,
    score_candidates,
)
from indexer.store import Hit

NEVER = 1.01  # a threshold no probability reaches
# Share of patterns hidden to simulate out-of-scope traffic.
HIDDEN_PATTERN_SHARE = 0.15
DEFAULT_TARGETS = (0.90, 0.98)
# One-sided 95% normal quantile for the Wilson lower bound on precision.
_Z = 1.6449

SearchFn = Callable[[np.ndarray, int], list[list[Hit]]]


@dataclass
class Calibrator:
    """Logistic regression on the `feature_names` columns of full feature rows, as plain numbers."""

    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @cached_property
    def columns(self) -> list[int]:
        """Positions of the used features in a full feature row."""
        return [FEATURE_INDEX[name] for name in self.feature_names]

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        correct: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        l2: float = 1.0,
        feature_names: Sequence[str] = CALIBRATION_FEATURES,
    ) -> Calibrator:
        """Fit on full feature rows of top candidates and whether each was right."""
        names = tuple(feature_names)
        x = np.asarray(features, dtype=np.float64)[:, [FEATURE_INDEX[n] for n in names]]
        y = np.asarray(correct, dtype=np.float64)
        w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
        w = w / w.mean()
        mean = np.average(x, axis=0, weights=w)
        scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
        scale[scale < 1e-9] = 1.0
        z = (x - mean) / scale
        n, d = z.shape

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            logits = z @ theta[:d] + theta[d]
            # log(1 + e^t) - y t, written to stay finite for large |t|.
            loss = np.sum(w * (np.logaddexp(0.0, logits) - y * logits)) / n
            r = w * (_sigmoid(logits) - y) / n
            grad = np.concatenate([z.T @ r + l2 * theta[:d] / n, [r.sum()]])
            return loss + 0.5 * l2 * float(theta[:d] @ theta[:d]) / n, grad

        theta = minimize(objective, np.zeros(d + 1), jac=True, method="L-BFGS-B").x
        return cls(names, mean, scale, theta[:d], float(theta[d]))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Probability that each row's candidate is the right answer."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))[:, self.columns]
        return _sigmoid(((x - self.mean) / self.scale) @ self.coef + self.intercept)

    def predict_rows(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """`predict` for a few rows in plain Python: a lone match scores two candidates, and
        the dozen numpy calls of `predict` cost several times the arithmetic right after a
        model run. The same numbers to within 1e-12."""
        weights, offset = self._folded
        return [0.5 * (1.0 + math.tanh(0.5 * (offset + sum(w * row[c] for c, w in weights)))) for row in rows]

    @cached_property
    def _folded(self) -> tuple[list[tuple[int, float]], float]:
        """The standardisation folded into the coefficients: ((column, weight), ...), intercept."""
        weights = self.coef / self.scale
        offset = self.intercept - float(self.mean @ weights)
        return list(zip(self.columns, weights.tolist(), strict=True)), offset

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for storage."""
        return {
            "kind": "logistic",
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """Load a calibrator written by `to_dict`."""
        names = tuple(str(n) for n in data["feature_names"])
        unknown = [n for n in names if n not in FEATURE_INDEX]
        if unknown or data.get("kind") != "logistic":
            raise ValueError(f"not a calibrator for these features: {unknown or data.get('kind')}")
        mean, scale, coef = (np.asarray(data[key], dtype=np.float64) for key in ("mean", "scale", "coef"))
        return cls(names, mean, scale, coef, float(data["intercept"]))


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def wilson_lower(successes: np.ndarray, n: np.ndarray, z: float = _Z) -> np.ndarray:
    """One-sided Wilson lower confidence bound of a proportion."""
    n = np.maximum(n, 1e-12)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def threshold_for_precision(
    probs: np.ndarray,
    correct: np.ndarray,
    target: float,
    weights: np.ndarray | None = None,
    z: float = _Z,
) -> float:
    """Lowest threshold whose answered set's precision has a lower bound >= target (else NEVER)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape[0] == 0:
        return NEVER
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(-p, kind="stable")
    ps, cs, ws = p[order], np.asarray(correct, dtype=np.float64)[order], w[order]
    answered = np.cumsum(ws)
    right = np.cumsum(ws * cs)
    # Only the last of a run of equal probabilities is a real cut.
    last = np.r_[ps[1:] != ps[:-1], True]
    ok = (wilson_lower(right, answered, z) >= target) & last
    if not ok.any():
        return NEVER
    return float(ps[np.flatnonzero(ok)[-1]])


def expected_calibration_error(
    probs: np.ndarray, correct: np.ndarray, bins: int = 10, weights: np.ndarray | None = None
) -> float:
    """Weighted mean gap between confidence and accuracy over equal-width bins."""
    p = np.asarray(probs, dtype=np.float64)
    if p.shape[0] == 0:
        return 0.0
    c = np.asarray(correct, dtype=np.float64)
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=np.float64)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            wb = w[m].sum()
            total += wb * abs(np.average(c[m], weights=w[m]) - np.average(p[m], weights=w[m]))
    return total / w.sum()


@dataclass(frozen=True)
class FeedbackRow:
    """An operator's verdict on a suggestion, with the features it was shown with."""

    features: np.ndarray
    accepted: bool
    weight: float = 1.0


@dataclass
class CalibrationSet:
    """Feature rows of top candidates, whether each was right, and how much each counts."""

    features: np.ndarray
    correct: np.ndarray
    weights: np.ndarray
    kinds: np.ndarray
    head: PatternHead | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.correct.shape[0])


def choose_thresholds(
    cal: CalibrationSet, targets: tuple[float, float] = DEFAULT_TARGETS, folds: int = 5, seed: int = 0
) -> tuple[Calibrator, Thresholds, np.ndarray]:
    """Fit the calibrator and pick thresholds on cross-fitted probabilities.

    Thresholds come from probabilities of calibrators that did not see the row, so the bound
    is not flattered by the fit; the returned calibrator is fitted on every row.
    """
    n = len(cal)
    oof = np.zeros(n)
    fold_of = np.random.default_rng(seed).integers(0, folds, size=n)
    for f in range(folds):
        test = fold_of == f
        if test.any() and (~test).any():
            part = Calibrator.fit(cal.features[~test], cal.correct[~test], cal.weights[~test])
            oof[test] = part.predict(cal.features[test])
    calibrator = Calibrator.fit(cal.features, cal.correct, cal.weights)
    suggest = threshold_for_precision(oof, cal.correct, targets[0], cal.weights)
    auto = threshold_for_precision(oof, cal.correct, targets[1], cal.weights)
    return calibrator, Thresholds(suggest, max(auto, suggest), targets[0], targets[1]), oof


def _loo_stats(
    stats: Mapping[int, PatternStats], pattern: int, support: int, centroid_sum: np.ndarray
) -> Mapping[int, PatternStats]:
    """Pattern stats as one of the pattern's own examples sees them when it is left out.

    The centroid leaves the example out (a new message is never part of it), but the support
    does not: at match time the right pattern is as large as its peers, and a support one
    short would tell the calibrator which candidate is right. A pattern with no other example
    disappears, so the query must be abstained on.
    """
    if pattern not in stats:
        return stats
    if support <= 1:
        return {p: st for p, st in stats.items() if p != pattern}
    st = stats[pattern]
    loo = PatternStats(support, st.mean_quality, st.alpha, st.beta, centroid_sum)
    # A view, not a copy: this runs once per sampled example.
    return ChainMap({pattern: loo}, cast(dict[int, PatternStats], stats))


def _hide_patterns(
    labels: np.ndarray,
    stats: Mapping[int, PatternStats],
    n_queries: int,
    share: float,
    rng: np.random.Generator,
) -> tuple[frozenset[int], np.ndarray]:
    """Randomly hidden patterns and the examples of theirs to query as out-of-scope traffic."""
    uniq, sizes = np.unique(labels, return_counts=True)
    eligible = np.array([p for p, c in zip(uniq, sizes, strict=True) if c >= 2 and int(p) in stats])
    if share <= 0 or eligible.shape[0] < 3:
        return frozenset(), np.zeros(0, dtype=np.int64)
    hidden = rng.choice(eligible, size=max(1, round(HIDDEN_PATTERN_SHARE * eligible.shape[0])), replace=False)
    pool = np.flatnonzero(np.isin(labels, hidden))
    want = min(pool.shape[0], max(1, round(share / (1 - share) * n_queries)))
    return frozenset(int(p) for p in hidden), np.sort(rng.choice(pool, size=want, replace=False))


def build_calibration_set(
    vectors: np.ndarray,
    pattern_ids: np.ndarray,
    example_ids: np.ndarray,
    search: SearchFn,
    stats: Mapping[int, PatternStats],
    *,
    k: int = 20,
    max_examples: int = 5000,
    unseen_share: float = 0.15,
    use_head: bool = True,
    feedback: Sequence[FeedbackRow] = (),
    folds: int | None = None,
    seed: int = 0,
) -> CalibrationSet:
    """Calibration rows from leave-one-out matching, unseen patterns and operator feedback.

    - "loo": a sampled example is matched with itself left out of the neighbours, the head and
      its pattern's centroid; an example that was its pattern's only one must be abstained on.
    - "unseen": examples of randomly hidden patterns are matched with their whole pattern left
      out, which is what out-of-scope traffic looks like; these rows carry `unseen_share` of
      the weight, so thresholds hold when many messages fit no pattern.
    - "feedback": accepted or rejected suggestions with the features they were shown with.
    Head probabilities always come from heads that never saw the queried example. The head
    fitted on all examples is returned with the set.
    """
    x = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(pattern_ids, dtype=np.int64)
    ids = np.asarray(example_ids, dtype=np.int64)
    rng = np.random.default_rng(seed)
    n = labels.shape[0]
    sample = np.sort(rng.choice(n, size=min(n, max_examples), replace=False))
    hidden, unseen = _hide_patterns(labels, stats, sample.shape[0], unseen_share, rng)

    if folds is None:
        # Each fold's head must miss at most ~10% of the examples, or it is weaker than the
        # deployed head and the calibration set looks harder than real traffic.
        folds = int(min(10, max(3, math.ceil(sample.shape[0] / (0.1 * n)))))
    fold_of = rng.integers(0, folds, size=sample.shape[0])
    head: PatternHead | None = None
    head_top: list[dict[int, float] | None] = [None] * (sample.shape[0] + unseen.shape[0])
    if use_head:
        holdouts = [(sample[fold_of == f], sample[fold_of == f]) for f in range(folds)]
        if unseen.size:
            holdouts.append((np.flatnonzero(np.isin(labels, list(hidden))), unseen))
        head, predictions = fit_with_holdouts(x, labels, holdouts)
        for f in range(folds):
            for slot, top in zip(np.flatnonzero(fold_of == f), predictions[f], strict=True):
                head_top[slot] = top
        if unseen.size:
            head_top[sample.shape[0] :] = predictions[folds]

    uniq, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    # Support and centroids come from the data itself so one example can be taken out exactly.
    sums = np.zeros((uniq.shape[0], x.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, x)
    rows: list[Sequence[float] | np.ndarray] = []
    correct: list[bool] = []
    kinds: list[str] = []
    for j, (row, hits) in enumerate(zip(sample, search(x[sample], k + 1) if n else [], strict=True)):
        own = int(labels[row])
        seen = _loo_stats(stats, own, int(sizes[inverse[row]]), sums[inverse[row]] - x[row])
        kept = [h for h in hits if h.example_id != ids[row]][:k]
        cands = score_candidates(kept, x[row], seen, head_top[j])
        if cands:
            rows.append(cands[0].features)
            correct.append(cands[0].pattern_id == own and own in seen)
            kinds.append("loo")
    visible = {p: st for p, st in stats.items() if p not in hidden}
    # The hidden patterns' own examples fill the top of the list: ask for enough to drop them.
    extra = min(int(sizes[np.isin(uniq, list(hidden))].max(initial=0)), 256)
    for j, (row, hits) in enumerate(
        zip(unseen, search(x[unseen], k + extra) if unseen.size else [], strict=True)
    ):
        kept = [h for h in hits if h.pattern_id not in hidden][:k]
        cands = score_candidates(kept, x[row], visible, head_top[sample.shape[0] + j])
        if cands:
            rows.append(cands[0].features)
            correct.append(False)
            kinds.append("unseen")
    weights = np.ones(len(rows))
    n_unseen = kinds.count("unseen")
    if n_unseen:
        known = len(rows) - n_unseen + sum(fb.weight for fb in feedback)
        weights[-n_unseen:] = unseen_share / (1 - unseen_share) * known / n_unseen
    rows += [np.asarray(fb.features, dtype=np.float64) for fb in feedback]
    correct += [bool(fb.accepted) for fb in feedback]
    kinds += ["feedback"] * len(feedback)
    return CalibrationSet(
        features=np.vstack(rows) if rows else np.zeros((0, len(FEATURE_NAMES))),
        correct=np.array(correct, dtype=bool),
        weights=np.r_[weights, [fb.weight for fb in feedback]],
        kinds=np.array(kinds, dtype=object),
        head=head,
    )
