"""The `pls eval` numbers from confidences and outcomes."""

from __future__ import annotations

import numpy as np

from app.learning.metrics import at_threshold, coverage_at_precision, eval_report


def test_coverage_at_precision_takes_the_best_threshold() -> None:
    confidence = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([True, True, False, True, False])
    assert coverage_at_precision(confidence, correct, 1.0) == 0.4
    assert coverage_at_precision(confidence, correct, 0.75) == 0.8
    assert coverage_at_precision(confidence, correct, 0.5) == 1.0


def test_ties_are_answered_together() -> None:
    confidence = np.array([0.9, 0.9, 0.5])
    correct = np.array([True, False, True])
    # 0.9 answers both tied messages: precision 0.5, never 1.0 on one of them.
    assert coverage_at_precision(confidence, correct, 1.0) == 0.0


def test_at_threshold_reports_coverage_and_precision() -> None:
    result = at_threshold(np.array([0.9, 0.8, 0.1]), np.array([True, False, False]), 0.5)
    assert result == {"threshold": 0.5, "coverage": 0.6667, "precision": 0.5}
    assert at_threshold(np.array([0.1]), np.array([False]), 0.5)["precision"] == 1.0


def test_eval_report_has_the_pls_eval_schema() -> None:
    confidence = np.array([0.99, 0.95, 0.6, 0.2])
    correct = np.array([True, True, False, False])
    oos = np.array([False, False, True, False])
    report = eval_report(
        n_train=10,
        patterns=3,
        confidence=confidence,
        correct=correct,
        out_of_scope=oos,
        auto_threshold=0.9,
        suggest_threshold=0.5,
    )
    assert list(report) == [
        "n_train",
        "n_test",
        "n_out_of_scope",
        "patterns",
        "coverage_at_precision",
        "auto",
        "suggest",
        "out_of_scope_abstained",
        "ece",
    ]
    assert report["coverage_at_precision"] == {"0.95": 0.5, "0.98": 0.5, "0.99": 0.5}
    assert report["auto"] == {"threshold": 0.9, "coverage": 0.5, "precision": 1.0}
    assert report["suggest"]["coverage"] == 0.75
    assert report["out_of_scope_abstained"] == 1.0
    assert report["n_out_of_scope"] == 1
