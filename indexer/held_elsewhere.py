"""A stand-in for an embedded index that another process holds.

The embedded engine's directory is open in one process at a time. A command can still run
beside a service that holds it: the examples it learns go to SQL with their outbox rows as
always, and the service, which flushes the outbox in its upkeep loop, writes them to the
index. Searches here are exact, over the searchable examples of the system of record, when
the caller supplies them (`serve_searches_from`); everything else that would touch the index
raises `IndexHeldElsewhere`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from indexer.exact import ExactNeighbours
from indexer.store import (
    SEARCHABLE_STATUSES,
    Hit,
    IndexHeldElsewhere,
    IndexPoint,
    Rebuild,
    StoredPoint,
    VectorStore,
)

# The examples of one tenant with the given statuses, as an exact index over their vectors.
Neighbours = Callable[[str, Sequence[str]], ExactNeighbours]


class HeldElsewhereStore(VectorStore):
    """Leaves writes to the process holding `path`; searches exactly if given the examples."""

    held_elsewhere = True

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        self._neighbours: Neighbours | None = None

    def serve_searches_from(self, neighbours: Neighbours) -> None:
        """Answer searches by exact search over what `neighbours` returns for a tenant."""
        self._neighbours = neighbours

    def _refuse(self) -> NoReturn:
        raise IndexHeldElsewhere(self.reason)

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        self._refuse()

    def set_payload(
        self,
        example_ids: Sequence[int],
        *,
        pattern_id: int | None = None,
        status: str | None = None,
        quality: float | None = None,
    ) -> None:
        self._refuse()

    def delete(self, example_ids: Sequence[int]) -> None:
        self._refuse()

    def search_batch(
        self,
        vectors: np.ndarray,
        tenant: str,
        k: int,
        statuses: Sequence[str] = SEARCHABLE_STATUSES,
    ) -> list[list[Hit]]:
        """The k nearest examples by exact search (the same hits the index's exact search gives)."""
        if self._neighbours is None:
            self._refuse()
        return self._neighbours(tenant, statuses).search_batch(vectors, k)

    def retrieve(self, example_ids: Sequence[int], with_vectors: bool = False) -> list[StoredPoint]:
        self._refuse()

    def count(self, tenant: str | None = None) -> int:
        self._refuse()

    def example_ids(self, tenant: str | None = None) -> set[int]:
        self._refuse()

    def begin_rebuild(self, resume: str | None = None) -> Rebuild:
        self._refuse()

    def close(self) -> None:
        """Nothing is open here."""
