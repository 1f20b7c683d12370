"""The numbers `pls eval` reports, as pure functions of confidences and outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.learning.calibration import expected_calibration_error

PRECISION_LEVELS = (0.95, 0.98, 0.99)


def coverage_at_precision(confidence: np.ndarray, correct: np.ndarray, precision: float) -> float:
    """Largest share of messages answered by one threshold while precision stays >= `precision`."""
    c = np.asarray(confidence, dtype=np.float64)
    if c.shape[0] == 0:
        return 0.0
    order = np.argsort(-c, kind="stable")
    cs = c[order]
    right = np.cumsum(np.asarray(correct, dtype=np.float64)[order])
    answered = np.arange(1, c.shape[0] + 1)
    # A threshold answers every message at or above it, so only the end of a tie is a cut.
    cut = np.r_[cs[1:] != cs[:-1], True]
    ok = cut & (right >= precision * answered - 1e-9)
    return float(answered[ok].max() / c.shape[0]) if ok.any() else 0.0


def at_threshold(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> dict[str, float]:
    """Threshold, coverage and precision of answering every message with confidence >= threshold."""
    c = np.asarray(confidence, dtype=np.float64)
    answered = c >= threshold
    n_answered = int(answered.sum())
    precision = float(np.asarray(correct)[answered].mean()) if n_answered else 1.0
    return {
        "threshold": round(float(threshold), 4),
        "coverage": round(n_answered / max(c.shape[0], 1), 4),
        "precision": round(precision, 4),
    }


def eval_report(
    *,
    n_train: int,
    patterns: int,
    confidence: np.ndarray,
    correct: np.ndarray,
    out_of_scope: np.ndarray,
    auto_threshold: float,
    suggest_threshold: float,
    levels: Sequence[float] = PRECISION_LEVELS,
) -> dict[str, Any]:
    """The `pls eval --json` object.

    `confidence` is the best pattern's calibrated confidence for each test message, `correct`
    whether that pattern is the expected one (always False for an out-of-scope message).
    """
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    oos = np.asarray(out_of_scope, dtype=bool)
    abstained = float((c[oos] < auto_threshold).mean()) if oos.any() else 1.0
    return {
        "n_train": int(n_train),
        "n_test": int(c.shape[0]),
        "n_out_of_scope": int(oos.sum()),
        "patterns": int(patterns),
        "coverage_at_precision": {f"{p:.2f}": round(coverage_at_precision(c, ok, p), 4) for p in levels},
        "auto": at_threshold(c, ok, auto_threshold),
        "suggest": at_threshold(c, ok, suggest_threshold),
        "out_of_scope_abstained": round(abstained, 4),
        "ece": round(expected_calibration_error(c, ok, bins=10), 4),
    }
