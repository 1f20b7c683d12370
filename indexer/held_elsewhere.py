"""A stand-in for an embedded index that another process holds.

The embedded engine's directory is open in one process at a time. A command that only learns
(`pls learn`, `pls import`, `pls calibrate`) can still run beside a service that holds it:
its examples go to SQL with their outbox rows as always, and the service, which flushes the
outbox in its upkeep loop, writes them to the index. Anything that has to read the index here
raises `IndexHeldElsewhere`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from indexer.store import (
    SEARCHABLE_STATUSES,
    Hit,
    IndexHeldElsewhere,
    IndexPoint,
    Rebuild,
    StoredPoint,
    VectorStore,
)


class HeldElsewhereStore(VectorStore):
    """Refuses every read and write: the process holding `path` does them (see the module doc)."""

    held_elsewhere = True

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason

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
        self._refuse()

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
