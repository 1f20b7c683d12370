"""`pls eval`: learn a training file on fresh temporary stores, match a test file, score it."""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session, col, select
from tqdm import tqdm

from app.config import Settings
from app.evaluation.dataset import Pair
from app.learning.facts import normalise_reply
from app.learning.learner import Interaction
from app.learning.matcher import Matcher
from app.learning.metrics import eval_report
from app.learning.refiling import regroup_after_import
from app.models import Example
from app.services import Services, build_services
from embeddings.base import Embedder

log = logging.getLogger(__name__)


def innermost(embedder: Embedder) -> Embedder:
    """The model behind any cache or batching wrappers (to time the model alone)."""
    while hasattr(embedder, "inner"):
        embedder = embedder.inner
    return embedder


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    """A percentile of durations, in milliseconds."""
    return round(float(np.percentile(np.asarray(seconds) * 1000, q)), 3) if seconds else 0.0


def embed_latency(embedder: Embedder, texts: Sequence[str], n: int = 50) -> list[float]:
    """Single-text latency of the bare model, no cache (after one warm-up call)."""
    model = innermost(embedder)
    model.embed_one("warm up")
    out = []
    for text in list(texts)[:n]:
        started = time.perf_counter()
        model.embed_one(text)
        out.append(time.perf_counter() - started)
    return out


class Answers:
    """What counts as the right pattern for a test line, from what was learned."""

    def __init__(self, train: Sequence[Pair], pattern_of_line: Sequence[int]) -> None:
        self.use_labels = all(p.label is not None for p in train)
        votes: dict[int, Counter[str]] = defaultdict(Counter)
        replies: dict[int, set[str]] = defaultdict(set)
        for pair, pattern_id in zip(train, pattern_of_line, strict=True):
            if pair.label is not None:
                votes[pattern_id][pair.label] += 1
            replies[pattern_id].add(normalise_reply(pair.reply or ""))
        self.majority = {pid: counter.most_common(1)[0][0] for pid, counter in votes.items()}
        self.replies = replies

    def correct(self, pattern_id: int | None, expected: Pair) -> bool:
        """True when `pattern_id` is the pattern the test line expects."""
        if pattern_id is None or expected.reply is None:
            return False
        if self.use_labels and expected.label is not None:
            return self.majority.get(pattern_id) == expected.label
        return normalise_reply(expected.reply) in self.replies.get(pattern_id, set())


def final_patterns(services: Services, example_ids: Sequence[int]) -> list[int]:
    """The pattern each example is filed under now, after merges and regrouping."""
    with Session(services.engine) as session:
        rows = session.exec(
            select(Example.id, Example.pattern_id).where(col(Example.id).in_(set(example_ids)))
        )
        pattern_of = dict(rows.all())
    return [pattern_of[example_id] for example_id in example_ids]


def run_eval(
    train: Sequence[Pair], test: Sequence[Pair], settings: Settings, progress: bool = False
) -> dict[str, Any]:
    """The evaluation report; every store is temporary, only the embedding cache persists."""
    with tempfile.TemporaryDirectory(prefix="pls-eval-") as tmp:
        eval_settings = settings.model_copy(
            update={"var_dir": Path(tmp), "database_url": None, "qdrant_url": None, "qdrant_path": None}
        )
        services = build_services(eval_settings)
        try:
            return _evaluate(services, train, test, progress)
        finally:
            services.close()


def _evaluate(
    services: Services, train: Sequence[Pair], test: Sequence[Pair], progress: bool
) -> dict[str, Any]:
    tenant = services.settings.default_tenant
    started = time.perf_counter()
    with tqdm(total=len(train), desc="learn", unit="ex", disable=not progress) as bar:
        summary = services.learner.learn_many(
            tenant,
            (Interaction(text=p.text, reply=p.reply or "") for p in train),
            source="eval",
            progress=bar.update,
        )
    services.learner.consolidate(tenant)
    regroup_after_import(services, tenant)
    pattern_of_line = final_patterns(services, [r.example_id for r in summary.results])
    calibration = services.calibration.fit(tenant)
    # As the service's upkeep would: matching then walks a graph, not a scan of every example.
    services.store.optimize_if_due()
    learn_s = time.perf_counter() - started
    answers = Answers(train, pattern_of_line)

    # Test messages are embedded by the bare model, never from the cache, so the match
    # timings are those of a message seen for the first time, as live traffic is.
    matcher = Matcher(
        services.engine,
        innermost(services.embedder),
        services.store,
        services.memories,
        services.settings,
        services.decisions,
    )
    confidence, correct, match_s = [], [], []
    try:
        for pair in tqdm(test, desc="match", unit="msg", disable=not progress):
            began = time.perf_counter()
            result = matcher.match(tenant, pair.text, record=False)
            match_s.append(time.perf_counter() - began)
            confidence.append(result.confidence if result.pattern_id is not None else 0.0)
            correct.append(answers.correct(result.pattern_id, pair))
    finally:
        matcher.close()
    model = services.memories.get(tenant).model
    report = eval_report(
        n_train=len(train),
        patterns=len(set(pattern_of_line)),
        confidence=np.array(confidence),
        correct=np.array(correct),
        out_of_scope=np.array([p.reply is None for p in test]),
        auto_threshold=model.auto_threshold if model else 1.01,
        suggest_threshold=model.suggest_threshold if model else 1.01,
    )
    embed_s = embed_latency(services.embedder, [p.text for p in test])
    report["timing"] = {
        "learn_s": round(learn_s, 2),
        "match_p50_ms": percentile_ms(match_s, 50),
        "match_p99_ms": percentile_ms(match_s, 99),
        "embed_p50_ms": percentile_ms(embed_s, 50),
    }
    log.info("calibration: %s", calibration)
    return report
