"""`pls reindex`: a fresh index built from SQL beside the live one; matching serves throughout."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from app.config import Settings
from app.learning.learner import Interaction
from app.reindex import reindex_all
from app.services import Services, build_services
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder

PAIRS = [(f"question number {i} about topic {i % 7}", f"Answer for topic {i % 7}") for i in range(60)]


class HookedEmbedder(FakeEmbedder):
    """Runs a callback the first time a batch of `trigger` texts is embedded (mid-rebuild)."""

    def __init__(self) -> None:
        super().__init__()
        self.hook: tuple[int, object] | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.hook and len(texts) == self.hook[0]:
            _, callback = self.hook
            self.hook = None
            callback()  # type: ignore[operator]
        return super().embed(texts)


@pytest.fixture
def services(settings: Settings, tmp_path: Path) -> Iterator[Services]:
    embedder = HookedEmbedder()
    built = build_services(settings, embedder=embedder, store=EdgeStore(tmp_path / "q", dim=embedder.dim))
    built.learner.learn_many("default", [Interaction(t, r) for t, r in PAIRS])
    yield built
    built.close()


def test_reindex_rebuilds_the_same_index(services: Services) -> None:
    before = services.store.example_ids("default")
    query = services.embedder.embed_one("question number 3 about topic 3")
    # Bag-of-words vectors tie often, so compare similarities rather than tie order.
    hits_before = [round(h.score, 5) for h in services.store.search(query, "default", 5)]
    assert reindex_all(services) == len(PAIRS)
    assert services.store.example_ids("default") == before
    assert [round(h.score, 5) for h in services.store.search(query, "default", 5)] == hits_before


def test_matching_keeps_answering_and_late_examples_are_kept(services: Services) -> None:
    answers: list[int | None] = []

    def during_rebuild() -> None:
        # Matching answers from the old collection while the new one is being filled...
        result = services.matcher.match("default", "question number 5 about topic 5", record=False)
        answers.append(len(result.explanation["neighbours"]))
        # ...and an example learned now must survive the switch.
        worker = threading.Thread(
            target=services.learner.learn, args=("default", Interaction("a brand new question", "New answer"))
        )
        worker.start()
        worker.join()

    services.embedder.hook = (len(PAIRS), during_rebuild)  # type: ignore[attr-defined]
    reindex_all(services)
    assert answers and answers[0] > 0
    assert services.store.count("default") == len(PAIRS) + 1
    hits = services.search.search("default", "a brand new question", 1)
    assert hits[0].reply == "New answer"
