"""A classifier over patterns trained on the learned examples' message vectors.

Multinomial logistic regression (softmax, L2) fitted with L-BFGS in numpy: on sentence
embeddings it separates patterns better than any neighbour vote, and its probabilities are a
strong feature for calibration. Only patterns with at least `min_examples` examples get a class.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

DEFAULT_C = 10.0
DEFAULT_MIN_EXAMPLES = 2


@dataclass(frozen=True)
class PatternHead:
    """Softmax regression weights; column j scores pattern `pattern_ids[j]`."""

    pattern_ids: np.ndarray
    weights: np.ndarray
    bias: np.ndarray

    @property
    def size(self) -> int:
        """Number of patterns the head knows."""
        return int(self.pattern_ids.shape[0])

    def predict_proba(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per query vector, columns in `pattern_ids` order."""
        z = np.atleast_2d(np.asarray(vectors, dtype=np.float32)) @ self.weights + self.bias
        return _softmax(z)

    def top(self, vector: np.ndarray, n: int = 10) -> dict[int, float]:
        """The `n` most probable patterns for one query vector, as {pattern id: probability}."""
        return top_probabilities(self.predict_proba(vector)[0], self.pattern_ids, n)

    def to_bytes(self) -> bytes:
        """Serialise to an .npz blob for storage."""
        buf = io.BytesIO()
        np.savez_compressed(buf, pattern_ids=self.pattern_ids, weights=self.weights, bias=self.bias)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> PatternHead:
        """Load a head written by `to_bytes`."""
        with np.load(io.BytesIO(blob)) as data:
            return cls(
                pattern_ids=data["pattern_ids"].astype(np.int64),
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
            )


def top_probabilities(proba: np.ndarray, pattern_ids: np.ndarray, n: int) -> dict[int, float]:
    """The `n` largest entries of one probability row, keyed by pattern id."""
    if proba.shape[0] == 0:
        return {}
    n = min(n, proba.shape[0])
    idx = np.argpartition(-proba, n - 1)[:n]
    return {int(pattern_ids[i]): float(proba[i]) for i in idx}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_head(
    vectors: np.ndarray,
    pattern_ids: Sequence[int] | np.ndarray,
    *,
    c: float = DEFAULT_C,
    min_examples: int = DEFAULT_MIN_EXAMPLES,
    warm_start: PatternHead | None = None,
    max_iter: int = 300,
) -> PatternHead | None:
    """Fit the head on examples' vectors and pattern ids; None when fewer than two patterns qualify."""
    x = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(pattern_ids, dtype=np.int64)
    classes, counts = np.unique(labels, return_counts=True)
    classes = classes[counts >= min_examples]
    if classes.shape[0] < 2:
        return None
    keep = np.isin(labels, classes)
    x, y = x[keep], np.searchsorted(classes, labels[keep])
    n, d = x.shape
    k = classes.shape[0]
    w0 = np.zeros((d + 1) * k)
    if warm_start is not None:
        w0 = _aligned_start(warm_start, classes).ravel()
    # C is per example, as in scikit-learn: penalty / (C * n) on the mean loss.
    lam = 1.0 / (c * n)
    rows = np.arange(n)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        wb = w.reshape(d + 1, k).astype(np.float32)
        z = x @ wb[:d] + wb[d]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1)
        loss = float(np.mean(np.log(s) - z[rows, y])) + 0.5 * lam * float(np.dot(w[: d * k], w[: d * k]))
        g = e / s[:, None]
        g[rows, y] -= 1.0
        g /= n
        grad = np.empty((d + 1, k), dtype=np.float64)
        grad[:d] = x.T @ g + lam * wb[:d]
        grad[d] = g.sum(axis=0)
        return loss, grad.ravel()

    result = minimize(objective, w0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "gtol": 1e-5})
    wb = result.x.reshape(d + 1, k).astype(np.float32)
    return PatternHead(pattern_ids=classes, weights=np.ascontiguousarray(wb[:d]), bias=wb[d].copy())


def _aligned_start(head: PatternHead, classes: np.ndarray) -> np.ndarray:
    """The head's weights rearranged to `classes` (zeros for classes it does not know)."""
    d = head.weights.shape[0]
    start = np.zeros((d + 1, classes.shape[0]), dtype=np.float64)
    pos = {int(p): j for j, p in enumerate(head.pattern_ids)}
    for j, p in enumerate(classes):
        i = pos.get(int(p))
        if i is not None:
            start[:d, j] = head.weights[:, i]
            start[d, j] = head.bias[i]
    return start


def fit_with_holdouts(
    vectors: np.ndarray,
    pattern_ids: Sequence[int] | np.ndarray,
    holdouts: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    c: float = DEFAULT_C,
    min_examples: int = DEFAULT_MIN_EXAMPLES,
    top_n: int = 10,
) -> tuple[PatternHead | None, list[list[dict[int, float]]]]:
    """The head on all examples, plus out-of-sample top probabilities for each holdout.

    A holdout is (rows excluded from training, rows to predict). A base head is fitted without
    any excluded row; every holdout's head and the final head start from it, so no starting
    point has seen a holdout's rows and each later fit converges in a few steps.
    """
    x = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(pattern_ids, dtype=np.int64)
    excluded_any = np.zeros(labels.shape[0], dtype=bool)
    for excluded, _ in holdouts:
        excluded_any[np.asarray(excluded, dtype=np.int64)] = True
    base = None
    if holdouts:
        base = fit_head(x[~excluded_any], labels[~excluded_any], c=c, min_examples=min_examples)
    predictions: list[list[dict[int, float]]] = []
    for excluded, query in holdouts:
        train = np.ones(labels.shape[0], dtype=bool)
        train[np.asarray(excluded, dtype=np.int64)] = False
        head = fit_head(x[train], labels[train], c=c, min_examples=min_examples, warm_start=base)
        query = np.asarray(query, dtype=np.int64)
        if head is None or query.shape[0] == 0:
            predictions.append([{} for _ in range(query.shape[0])])
            continue
        proba = head.predict_proba(x[query])
        predictions.append([top_probabilities(row, head.pattern_ids, top_n) for row in proba])
    final = fit_head(x, labels, c=c, min_examples=min_examples, warm_start=base)
    return final, predictions
