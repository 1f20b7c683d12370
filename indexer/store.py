"""The vector-store contract the rest of the code sees, whatever engine is behind it."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from indexer.schema import SEARCHABLE_STATUSES


class IndexBusy(RuntimeError):
    """A rebuild or optimize is already running on this index."""


class IndexHeldElsewhere(RuntimeError):
    """The embedded index is open in another process: one process holds its directory at a time."""


@dataclass(frozen=True)
class IndexPoint:
    """One learned example as the index holds it: its vector and its payload."""

    example_id: int
    pattern_id: int
    tenant: str
    status: str
    vector: np.ndarray = field(repr=False)
    quality: float = 1.0


class Hit(NamedTuple):
    """A neighbour found by search: cosine similarity and the payload the matcher needs.

    A named tuple rather than a frozen dataclass: a search builds 20 of them per match, and a
    frozen dataclass costs five attribute writes through object.__setattr__ for each.
    """

    example_id: int
    pattern_id: int
    score: float
    status: str
    quality: float = 1.0


@dataclass(frozen=True)
class StoredPoint:
    """A point read back from the index (for verification and repair)."""

    example_id: int
    pattern_id: int
    tenant: str
    status: str
    quality: float
    vector: np.ndarray | None = field(default=None, repr=False)


class VectorStore(ABC):
    """A Qdrant-backed index of examples, one live collection behind a stable name.

    Writes are idempotent (point ids are uuid5 of the example id). Searches are always
    filtered by tenant and by searchable status with exact-match filters.
    """

    # True for a stand-in for an index another process holds: writes wait in the outbox for
    # that process, and nothing can be read here.
    held_elsewhere: bool = False

    @abstractmethod
    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or replace points in the live collection."""

    @abstractmethod
    def set_payload(
        self,
        example_ids: Sequence[int],
        *,
        pattern_id: int | None = None,
        status: str | None = None,
        quality: float | None = None,
    ) -> None:
        """Change payload fields of existing points without touching their vectors."""

    @abstractmethod
    def delete(self, example_ids: Sequence[int]) -> None:
        """Remove points; unknown ids are ignored."""

    @abstractmethod
    def search_batch(
        self,
        vectors: np.ndarray,
        tenant: str,
        k: int,
        statuses: Sequence[str] = SEARCHABLE_STATUSES,
    ) -> list[list[Hit]]:
        """The k nearest points of `tenant` with one of `statuses`, for each query row."""

    def search(
        self,
        vector: np.ndarray,
        tenant: str,
        k: int,
        statuses: Sequence[str] = SEARCHABLE_STATUSES,
    ) -> list[Hit]:
        """The k nearest points of `tenant` for one query vector, best first."""
        return self.search_batch(np.asarray(vector, dtype=np.float32)[None, :], tenant, k, statuses)[0]

    @abstractmethod
    def retrieve(self, example_ids: Sequence[int], with_vectors: bool = False) -> list[StoredPoint]:
        """Read points back by example id (missing ids are left out)."""

    @abstractmethod
    def count(self, tenant: str | None = None) -> int:
        """Number of points, optionally of one tenant."""

    @abstractmethod
    def example_ids(self, tenant: str | None = None) -> set[int]:
        """All example ids in the live collection (for verification)."""

    def optimize(self) -> bool:
        """Build search structures (HNSW); True if anything changed. May block for minutes.

        Engines that index on their own (a Qdrant server) have nothing to do here.
        """
        return False

    def optimize_due(self) -> bool:
        """Whether enough points wait outside the search graph that `optimize()` should run.

        Engines that index on their own never need it.
        """
        return False

    def optimize_if_due(self) -> bool:
        """After a bulk load: build the graph now if it is due; True if anything changed."""
        if not self.optimize_due():
            return False
        try:
            return self.optimize()
        except IndexBusy:  # a rebuild or another optimize is already building it
            return False

    def optimize_in_background(self) -> Future[bool]:
        """Run `optimize()` in a daemon thread; the future says whether anything changed."""
        future: Future[bool] = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(self.optimize())
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, name="index-optimize", daemon=True).start()
        return future

    @abstractmethod
    def begin_rebuild(self, resume: str | None = None) -> Rebuild:
        """Start filling a fresh collection that replaces the live one on `commit()`.

        `resume` names a rebuild an earlier process suspended (or died during): if it is still
        there it is reopened with what it holds, otherwise a fresh one starts. A suspended
        rebuild not resumed is abandoned (the edge engine deletes it; a server keeps it for
        `drop_orphans`, since another instance may own it).
        """

    @abstractmethod
    def close(self) -> None:
        """Flush and release the engine."""


class Rebuild(ABC):
    """A collection being rebuilt beside the live one; searches keep using the old one."""

    name: str  # what `begin_rebuild(resume=...)` takes to continue this rebuild later

    @abstractmethod
    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Add points to the new collection."""

    @abstractmethod
    def count(self) -> int:
        """Points written to the new collection so far."""

    def checkpoint(self) -> None:  # noqa: B027 - engines that write durably have nothing to do
        """Make every point written so far durable, so a resumed rebuild may skip them."""

    @abstractmethod
    def suspend(self) -> None:
        """Stop filling but keep what was written, for `begin_rebuild(resume=name)` later."""

    @abstractmethod
    def commit(self) -> None:
        """Atomically make the new collection live and drop the old one."""

    @abstractmethod
    def abort(self) -> None:
        """Drop the new collection; the live one is untouched."""
