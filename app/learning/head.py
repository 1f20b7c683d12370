"""A classifier over patterns trained on the learned examples' message vectors.

Multinomial logistic regression (softmax, L2) fitted with L-BFGS in numpy: on sentence
embeddings it separates patterns better than any neighbour vote, and its probabilities are a
strong feature for calibration. Only patterns with at least `min_examples` examples get a class.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

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
        """The `n` most probable patterns for one query vector, as {pattern id: probability}.

        The same numbers as `predict_proba`, in a few in-place steps on one row: a live match
        runs this right after the model, when every numpy call costs several microseconds.
        """
        z = np.dot(np.asarray(vector, dtype=np.float32).ravel(), self.weights)
        z += self.bias
        z -= z.max()
        np.exp(z, out=z)
        return top_probabilities(z, self.pattern_ids, n, total=float(z.sum()))

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


def top_probabilities(
    weights: np.ndarray, pattern_ids: np.ndarray, n: int, total: float = 1.0
) -> dict[int, float]:
    """The `n` largest entries of one row of weights over `total`, keyed by pattern id.

    A row that is already a distribution keeps `total` at 1; `PatternHead.top` passes the
    softmax's unnormalised weights and their sum, so only the n it keeps are divided.
    """
    n = min(n, weights.shape[0])
    if n == 0:
        return {}
    # The n largest, found without a negated copy of the row.
    best = np.argpartition(weights, weights.shape[0] - n)[-n:]
    return {
        pattern: weight / total
        for pattern, weight in zip(pattern_ids[best].tolist(), weights[best].tolist(), strict=True)
    }


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
    classes: np.ndarray | None = None,
    max_iter: int = 300,
) -> PatternHead | None:
    """Fit the head on examples' vectors and pattern ids; None when fewer than two patterns qualify.

    `classes` fixes which patterns get a class (those with any example here), overriding
    `min_examples`, so a head fitted with some examples held out knows the same patterns.
    """
    x = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(pattern_ids, dtype=np.int64)
    present, counts = np.unique(labels, return_counts=True)
    if classes is None:
        classes = present[counts >= min_examples]
    else:
        classes = np.intersect1d(np.asarray(classes, dtype=np.int64), present)
    if classes.shape[0] < 2:
        return None
    keep = np.isin(labels, classes)
    x, y = x[keep], np.searchsorted(classes, labels[keep])
    n, d = x.shape
    k = classes.shape[0]
    w0 = np.zeros((d + 1) * k, dtype=np.float32)
    if warm_start is not None:
        w0 = _aligned_start(warm_start, classes).ravel().astype(np.float32)
    # C is per example, as in scikit-learn: penalty / (C * n) on the mean loss.
    lam = 1.0 / (c * n)
    rows = np.arange(n)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        wb = w.reshape(d + 1, k)
        z = x @ wb[:d] + wb[d]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1)
        loss = float(np.mean(np.log(s) - z[rows, y])) + 0.5 * lam * float(np.vdot(wb[:d], wb[:d]))
        g = e / s[:, None]
        g[rows, y] -= 1.0
        g /= n
        grad = np.empty((d + 1, k), dtype=np.float32)
        grad[:d] = x.T @ g + lam * wb[:d]
        grad[d] = g.sum(axis=0)
        return loss, grad.ravel()

    wb = lbfgs(objective, w0, max_iter=max_iter).reshape(d + 1, k).astype(np.float32)
    return PatternHead(pattern_ids=classes, weights=np.ascontiguousarray(wb[:d]), bias=wb[d].copy())


def lbfgs(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    *,
    max_iter: int = 300,
    memory: int = 10,
    gtol: float = 1e-5,
    ftol: float = 1e-7,
) -> np.ndarray:
    """Minimise a smooth convex function with limited-memory BFGS and backtracking.

    SciPy's L-BFGS-B spends most of its time in bound handling at this size (10^5 weights);
    the unconstrained two-loop recursion in numpy is several times faster.
    """
    x = np.asarray(x0, dtype=np.float32).copy()
    f, g = objective(x)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    rho: list[float] = []
    for _ in range(max_iter):
        if float(np.abs(g).max()) < gtol:
            break
        q = g.copy()
        alphas = []
        for s_i, y_i, r_i in zip(reversed(s_hist), reversed(y_hist), reversed(rho), strict=True):
            a = r_i * float(np.vdot(s_i, q))
            alphas.append(a)
            q -= a * y_i
        if s_hist:
            q *= float(np.vdot(s_hist[-1], y_hist[-1]) / np.vdot(y_hist[-1], y_hist[-1]))
        else:
            q /= max(float(np.linalg.norm(g)), 1.0)
        for s_i, y_i, r_i, a in zip(s_hist, y_hist, rho, reversed(alphas), strict=True):
            q += (a - r_i * float(np.vdot(y_i, q))) * s_i
        direction = -q
        slope = float(np.vdot(g, direction))
        if slope >= 0:  # not a descent direction: restart from the gradient
            s_hist, y_hist, rho = [], [], []
            direction, slope = -g, -float(np.vdot(g, g))
        step = 1.0
        while True:
            x_new = (x + step * direction).astype(np.float32)
            f_new, g_new = objective(x_new)
            if f_new <= f + 1e-4 * step * slope or step < 1e-8:
                break
            step *= 0.5
        s_vec, y_vec = x_new - x, g_new - g
        sy = float(np.vdot(s_vec, y_vec))
        if sy > 1e-12:
            s_hist.append(s_vec)
            y_hist.append(y_vec)
            rho.append(1.0 / sy)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
                rho.pop(0)
        done = f - f_new < ftol * max(abs(f), 1.0)
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x


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
    present, counts = np.unique(labels, return_counts=True)
    classes = present[counts >= min_examples]
    excluded_any = np.zeros(labels.shape[0], dtype=bool)
    for excluded, _ in holdouts:
        excluded_any[np.asarray(excluded, dtype=np.int64)] = True
    base = None
    if holdouts:
        base = fit_head(x[~excluded_any], labels[~excluded_any], c=c, classes=classes)
    predictions: list[list[dict[int, float]]] = []
    for excluded, query in holdouts:
        train = np.ones(labels.shape[0], dtype=bool)
        train[np.asarray(excluded, dtype=np.int64)] = False
        head = fit_head(x[train], labels[train], c=c, classes=classes, warm_start=base)
        query = np.asarray(query, dtype=np.int64)
        if head is None or query.shape[0] == 0:
            predictions.append([{} for _ in range(query.shape[0])])
            continue
        proba = head.predict_proba(x[query])
        predictions.append([top_probabilities(row, head.pattern_ids, top_n) for row in proba])
    final = fit_head(x, labels, c=c, classes=classes, warm_start=base)
    return final, predictions
