"""Discovery on real data: Bitext's 27 intents, every reply worded differently, give ~27 candidates."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from app.config import Settings
from app.evaluation.corpus import SHARED_EVAL_DATA
from app.learning.discovery import Candidate, discover, min_size
from app.models import Example
from embeddings.cache import CachedEmbedder, EmbeddingCache
from embeddings.onnx import OnnxEmbedder
from tests.embedding_fixtures import onnx_dir  # noqa: F401 - a fixture, used by name

BITEXT = SHARED_EVAL_DATA / "bitext_train_all.jsonl"
PER_INTENT = 12


def bitext_sample() -> tuple[list[Example], dict[int, str]]:
    """12 pairs of each of the 27 intents (seeded), as examples, and each example's intent."""
    by_intent: dict[str, list[dict[str, str]]] = defaultdict(list)
    for line in BITEXT.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        by_intent[row["label"]].append(row)
    rng = random.Random(0)
    examples: list[Example] = []
    labels: dict[int, str] = {}
    for intent in sorted(by_intent):
        for row in rng.sample(by_intent[intent], PER_INTENT):
            example_id = len(examples) + 1
            examples.append(
                Example(
                    id=example_id, tenant="t", pattern_id=example_id, text=row["text"], reply=row["reply"], text_hash=""
                )
            )
            labels[example_id] = intent
    return examples, labels


@pytest.mark.skipif(not BITEXT.is_file(), reason="the Bitext dev pairs are not beside the repository")
def test_discovery_finds_about_one_candidate_per_bitext_intent(onnx_dir: Path) -> None:  # noqa: F811
    examples, labels = bitext_sample()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    # Bitext replies are long (~10 texts/s on two cores): a cache beside the model export makes
    # every run after the first one fast; the vectors are the real model's either way.
    embedder = CachedEmbedder(OnnxEmbedder(onnx_dir), EmbeddingCache(onnx_dir.parent / "embeddings.sqlite"))
    try:
        candidates = discover(examples, embedder, settings)
    finally:
        embedder.close()
    intents = len(set(labels.values()))
    assert intents == 27
    # Close to one per intent: not one per example, not a handful of blobs.
    assert 20 <= len(candidates) <= 36, len(candidates)
    covered = sum(c.size for c in candidates)
    assert covered >= 0.9 * len(examples)
    # Candidates are about one thing: most members of each share its majority intent...
    majority = [Counter(labels[i] for i in c.example_ids).most_common(1)[0] for c in candidates]
    assert sum(count for _, count in majority) / covered >= 0.6
    # ...and together they name most of the intents.
    assert len({intent for intent, _ in majority}) >= 18
    check_shape(candidates, examples, settings)


def check_shape(candidates: list[Candidate], examples: list[Example], settings: Settings) -> None:
    by_id = {e.id: e for e in examples}
    for c in candidates:
        assert c.size == len(c.example_ids) >= min_size(len(examples), settings)
        # All learned the same day: the per-day rate is the size itself.
        assert c.per_day == c.size
        assert c.reply in {by_id[i].reply for i in c.example_ids}
        assert 0 < c.cohesion <= 1
    assert [c.size for c in candidates] == sorted((c.size for c in candidates), reverse=True)
