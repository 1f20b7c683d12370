"""The embedded engine (qdrant-edge-py): one shard generation live under a directory.

Concurrency, as measured on qdrant-edge-py 0.9.0: every EdgeShard call holds the GIL until it
returns, so engine calls never overlap and need no lock of their own; `optimize()` holds it for
minutes and therefore runs in a child process on a copy of the live shard (edge_optimize.py).
The locks here protect what the engine cannot: swapping the live shard while a search may still
be using the old one, and keeping the copy plus the writes made during its optimization exact.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import qdrant_edge as qe

from indexer import codec, edge_files, schema
from indexer.edge_config import (
    EdgeTuning,
    search_params,
    searchable_filter,
    shard_config,
    tenant_filter,
)
from indexer.edge_live import LiveShard
from indexer.edge_optimize import Optimizer, SubprocessOptimizer
from indexer.edge_payloads import PayloadMirror
from indexer.store import SEARCHABLE_STATUSES, Hit, IndexBusy, IndexPoint, Rebuild, StoredPoint, VectorStore

_BATCH = 1024
_SCROLL = 2048


class EdgeStore(VectorStore):
    """Vector store on an embedded edge shard persisted under `path`."""

    def __init__(
        self,
        path: Path,
        dim: int = schema.DEFAULT_DIM,
        *,
        tuning: EdgeTuning | None = None,
        optimizer: Optimizer | None = None,
        optimize_rebuilds: bool = True,
    ) -> None:
        self.dim = dim
        self.tuning = tuning or EdgeTuning()
        self.search_params = search_params(self.tuning)
        self._optimizer: Optimizer = optimizer or SubprocessOptimizer()
        self._optimize_rebuilds = optimize_rebuilds
        self._writes = threading.Lock()  # one writer at a time, so the optimize journal is exact
        self._maintenance = threading.Lock()  # one rebuild or optimize at a time
        self._journal: list[qe.UpdateOperation] | None = None
        self._rebuild: EdgeRebuild | None = None
        self._live = LiveShard(Path(path), shard_config(dim, self.tuning), self.tuning)
        # The engine gives a segment a graph only past indexing_threshold_kb of vectors, so
        # optimizing for fewer waiting points than that would copy the shard for nothing.
        self._optimize_after = max(1, self.tuning.indexing_threshold_kb * 1024 // (dim * 4))
        self._left_waiting = 0  # points the last optimize left outside a graph

    @property
    def generation(self) -> int:
        """Number of the live shard generation."""
        return self._live.number

    # -- writes --------------------------------------------------------------------------

    def _apply(self, op: qe.UpdateOperation, mirror: Callable[[PayloadMirror], None]) -> None:
        """Write to the live shard, then make the same change to its payloads in memory."""
        with self._writes:
            with self._live.using_generation() as live:
                live.shard.update(op)
                mirror(live.payloads)
            if self._journal is not None:
                self._journal.append(op)

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or replace points in the live shard."""
        for batch, op in _upsert_ops(points, self.dim):
            self._apply(op, partial(PayloadMirror.upserted, points=batch))

    def set_payload(
        self,
        example_ids: Sequence[int],
        *,
        pattern_id: int | None = None,
        status: str | None = None,
        quality: float | None = None,
    ) -> None:
        """Change payload fields of existing points without touching their vectors."""
        update = codec.payload_update(pattern_id, status, quality)
        if not update or not example_ids:
            return
        # By filter, because the id-list form fails on an unknown id after updating the rest.
        selector = qe.Filter(must=[qe.HasIdCondition({schema.point_id(i) for i in example_ids})])
        self._apply(
            qe.UpdateOperation.set_payload_by_filter(selector, update),
            lambda payloads: payloads.changed(example_ids, update),
        )

    def delete(self, example_ids: Sequence[int]) -> None:
        """Remove points; unknown ids are ignored."""
        if example_ids:
            ids: list[qe.PointId] = [schema.point_id(i) for i in example_ids]
            self._apply(qe.UpdateOperation.delete_points(ids), lambda payloads: payloads.deleted(example_ids))

    # -- reads ---------------------------------------------------------------------------

    def search_batch(
        self,
        vectors: np.ndarray,
        tenant: str,
        k: int,
        statuses: Sequence[str] = SEARCHABLE_STATUSES,
    ) -> list[list[Hit]]:
        """The k nearest points of `tenant` with one of `statuses`, for each query row."""
        rows = codec.query_rows(vectors, self.dim)
        if k <= 0 or not statuses:
            return [[] for _ in rows]
        wanted = frozenset(statuses)
        with self._live.using_generation() as live:
            # Only the conditions some point of the shard fails (see edge_census), and no
            # payload: the store's copy of it supplies the hits' fields.
            plan = live.payloads.census.plan(tenant, wanted, k)
            flt = searchable_filter(
                tenant if plan.tenant_condition else None, wanted if plan.status_condition else None
            )
            requests = [
                qe.QueryRequest(
                    limit=plan.limit,
                    query=qe.Query.Nearest(row),
                    filter=flt,
                    with_payload=False,
                    params=self.search_params,
                )
                for row in rows
            ]
            # A lone query skips the batch wrapper (about 15 us after a model run).
            results = (
                [live.shard.query(requests[0])]
                if len(requests) == 1
                else live.shard.query_batch(qe.QueryBatchRequest(requests))
            )
            return [live.payloads.hits(found, tenant, wanted, k) for found in results]

    def retrieve(self, example_ids: Sequence[int], with_vectors: bool = False) -> list[StoredPoint]:
        """Read points back by example id (missing ids are left out)."""
        ids: list[qe.PointId] = [schema.point_id(i) for i in example_ids]
        with self._live.using() as shard:
            records = shard.retrieve(ids, True, with_vectors)
        stored = [codec.stored_of(r.payload, r.vector if with_vectors else None) for r in records]
        return codec.ordered(stored, example_ids)

    def count(self, tenant: str | None = None) -> int:
        """Number of points, optionally of one tenant."""
        with self._live.using() as shard:
            return shard.count(qe.CountRequest(exact=True, filter=tenant_filter(tenant)))

    def example_ids(self, tenant: str | None = None) -> set[int]:
        """All example ids in the live shard (for verification)."""
        found: set[int] = set()
        offset: qe.PointId | None = None
        with self._live.using() as shard:
            while True:
                request = qe.ScrollRequest(
                    offset=offset,
                    limit=_SCROLL,
                    filter=tenant_filter(tenant),
                    with_payload=[schema.EXAMPLE_ID],
                    with_vector=False,
                )
                records, offset = shard.scroll(request)
                found.update(int((r.payload or {})[schema.EXAMPLE_ID]) for r in records)
                if offset is None:
                    return found

    def point_counts(self) -> dict[tuple[str, str], int]:
        """Points of the live shard per (tenant, status), as the store counts them (for checks)."""
        with self._live.using_generation() as live:
            return live.payloads.census.counts()

    def stats(self) -> dict[str, int]:
        """Points, segments and HNSW-indexed vectors of the live shard."""
        with self._live.using() as shard:
            info = shard.info()
        return {
            "points": info.points_count,
            "segments": info.segments_count,
            "indexed_vectors": info.indexed_vectors_count,
        }

    # -- maintenance ---------------------------------------------------------------------

    def optimize(self) -> bool:
        """Build HNSW for a copy of the live shard off-process, then swap it in; True if changed.

        Searches and writes go on meanwhile (writes wait only while the shard is copied and
        while the writes made during the build are replayed onto the optimized copy).
        """
        if not self._maintenance.acquire(blocking=False):
            raise IndexBusy("a rebuild or optimize is already running")
        try:
            return self._optimize_copy()
        finally:
            # Built, found nothing to build or failed: either way, wait for more points.
            with contextlib.suppress(Exception):
                self._left_waiting = self.unindexed_points()
            self._maintenance.release()

    def unindexed_points(self) -> int:
        """Points outside any graph: every search scans them one by one."""
        stats = self.stats()
        return stats["points"] - stats["indexed_vectors"]

    def optimize_due(self) -> bool:
        """True once a segment's worth of points waits beyond what the last optimize left."""
        return self.unindexed_points() >= self._left_waiting + self._optimize_after

    def _optimize_copy(self) -> bool:
        with self._writes, self._live.using() as shard:
            shard.flush()
            number = self._live.next_number()
            target = edge_files.generation_dir(self._live.root, number)
            shutil.copytree(self._live.directory, target)
            self._journal = []
        optimized: qe.EdgeShard | None = None
        try:
            if not self._optimizer(target):
                shutil.rmtree(target, ignore_errors=True)
                return False
            with self._writes:
                journal, self._journal = self._journal or [], None
                optimized = self._live.load(target)
                for op in journal:
                    optimized.update(op)
                optimized.flush()
                # The copy plus the replayed writes holds exactly what the live shard holds.
                with self._live.using_generation() as live:
                    payloads = live.payloads
                self._live.switch(number, optimized, payloads)
            return True
        except BaseException:
            self._journal = None
            if optimized is not None:
                optimized.close()
            shutil.rmtree(target, ignore_errors=True)
            raise

    def begin_rebuild(self, resume: str | None = None) -> EdgeRebuild:
        """Start filling a fresh generation beside the live one, or reopen the one named `resume`."""
        if not self._maintenance.acquire(blocking=False):
            raise IndexBusy("a rebuild or optimize is already running")
        try:
            root = self._live.root
            pending = edge_files.read_rebuild(root)
            directory = edge_files.generation_dir(root, pending) if pending is not None else None
            if (
                pending is not None
                and directory is not None
                and directory.name == resume
                and directory.is_dir()
            ):
                self._rebuild = EdgeRebuild(self, pending, self._live.load(directory))
                return self._rebuild
            if directory is not None:  # a suspended rebuild nobody resumes any more
                shutil.rmtree(directory, ignore_errors=True)
            number = self._live.next_number()
            shard = self._live.create(number)
            edge_files.write_rebuild(root, number)
            self._rebuild = EdgeRebuild(self, number, shard)
        except BaseException:
            self._maintenance.release()
            raise
        return self._rebuild

    def _finish_rebuild(self, rebuild: EdgeRebuild, shard: qe.EdgeShard | None, keep: bool = False) -> None:
        """Called by EdgeRebuild: make its shard live (or drop it, or keep it), then free maintenance."""
        try:
            if shard is not None:
                with self._writes:
                    self._live.switch(rebuild.number, shard)
            if not keep:
                edge_files.write_rebuild(self._live.root, None)
        finally:
            self._rebuild = None
            self._maintenance.release()

    def close(self) -> None:
        """Stop maintenance, flush and close the live shard, release the directory."""
        cancel = getattr(self._optimizer, "cancel", None)
        if cancel is not None:
            cancel()
        if self._rebuild is not None:
            # Closing mid-rebuild (an interrupted `pls reindex`) keeps it for a resume.
            self._rebuild.suspend()
        with self._maintenance:
            self._live.close()


class EdgeRebuild(Rebuild):
    """A shard generation being filled beside the live one."""

    def __init__(self, store: EdgeStore, number: int, shard: qe.EdgeShard) -> None:
        self.number = number
        self.directory = edge_files.generation_dir(store._live.root, number)
        self.name = self.directory.name
        self._store = store
        self._shard: qe.EdgeShard | None = shard

    def _open(self) -> qe.EdgeShard:
        if self._shard is None:
            raise RuntimeError("rebuild already committed or aborted")
        return self._shard

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Add points to the new generation."""
        shard = self._open()
        for _, op in _upsert_ops(points, self._store.dim):
            shard.update(op)

    def count(self) -> int:
        """Points written to the new generation so far."""
        return self._open().count(qe.CountRequest(exact=True))

    def checkpoint(self) -> None:
        """Flush the new generation to disk."""
        self._open().flush()

    def suspend(self) -> None:
        """Flush and close the new generation, keeping it on disk for a later resume."""
        if self._shard is None:
            return
        shard, self._shard = self._shard, None
        try:
            shard.flush()
            shard.close()
        finally:
            self._store._finish_rebuild(self, None, keep=True)

    def commit(self) -> None:
        """Optimize the new generation (off-process), then make it live and drop the old one."""
        shard: qe.EdgeShard | None = self._open()
        self._shard = None
        try:
            assert shard is not None
            shard.flush()
            if self._store._optimize_rebuilds:
                shard.close()
                shard = None
                self._store._optimizer(self.directory)
                shard = self._store._live.load(self.directory)
        except BaseException:
            if shard is not None:
                shard.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            self._store._finish_rebuild(self, None)
            raise
        self._store._finish_rebuild(self, shard)

    def abort(self) -> None:
        """Drop the new generation; the live one is untouched."""
        if self._shard is None:
            return
        shard, self._shard = self._shard, None
        shard.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        self._store._finish_rebuild(self, None)


def _upsert_ops(
    points: Sequence[IndexPoint], dim: int
) -> Iterator[tuple[Sequence[IndexPoint], qe.UpdateOperation]]:
    """Upsert operations in batches (with the points of each), vectors converted once per batch."""
    for start in range(0, len(points), _BATCH):
        batch = points[start : start + _BATCH]
        vectors = codec.vectors_of(batch, dim)
        yield (
            batch,
            qe.UpdateOperation.upsert_points(
                [
                    qe.Point(schema.point_id(p.example_id), vector, codec.payload_of(p))
                    for p, vector in zip(batch, vectors, strict=True)
                ]
            ),
        )
