"""A Qdrant server or cluster (qdrant-client): collections `<alias>_<generation>` behind an alias.

Every read and write addresses the alias, so a rebuild's switch (one atomic
`update_collection_aliases` call) moves all clients of the server at once. qdrant-client's
local mode (`QdrantClient(":memory:")` or `path=...`) implements aliases too, so tests run
the same code path; local mode is not thread-safe, so its calls are serialised here.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np
from qdrant_client import QdrantClient, models

from indexer import codec, schema
from indexer.store import SEARCHABLE_STATUSES, Hit, IndexBusy, IndexPoint, Rebuild, StoredPoint, VectorStore

_SCROLL = 2048
# Qdrant's multitenancy layout: no global graph, one per tenant (every search names a tenant).
MULTITENANT_HNSW = models.HnswConfigDiff(m=0, payload_m=16)
# As in the embedded default (edge_config.EdgeTuning): the graph is walked on int8 copies of
# the vectors, held in RAM, and the candidates are rescored on the originals, so every hit
# carries its exact cosine.
INT8_QUANTIZATION = models.ScalarQuantization(
    scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True)
)
RESCORED = models.QuantizationSearchParams(rescore=True, oversampling=2.0)
# Exact-match indexes; only the tenant gets graph links (see edge_config.payload_index_ops).
_INDEXES: dict[str, models.PayloadSchemaParams] = {
    schema.TENANT: models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
    schema.STATUS: models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, enable_hnsw=False),
    **{
        field: models.IntegerIndexParams(
            type=models.IntegerIndexType.INTEGER, lookup=True, range=False, enable_hnsw=False
        )
        for field in schema.INTEGER_FIELDS
    },
}


class ServerStore(VectorStore):
    """Vector store on a Qdrant server, addressed through a collection alias."""

    def __init__(
        self,
        client: QdrantClient,
        dim: int = schema.DEFAULT_DIM,
        alias: str = schema.COLLECTION,
        *,
        hnsw_config: models.HnswConfigDiff | None = MULTITENANT_HNSW,
        hnsw_ef: int | None = None,
        quantization: models.QuantizationConfig | None = INT8_QUANTIZATION,
        batch_size: int = 256,
        ready_timeout: float = 600.0,
        owns_client: bool = False,
    ) -> None:
        self.dim = dim
        self.alias = alias
        self._client = client
        self._hnsw_config = hnsw_config
        self._quantization = quantization
        self._search_params = models.SearchParams(
            hnsw_ef=hnsw_ef, quantization=RESCORED if quantization else None
        )
        self._batch_size = batch_size
        self._ready_timeout = ready_timeout
        self._owns_client = owns_client
        self._generation_name = re.compile(rf"^{re.escape(alias)}_(\d+)$")
        self._maintenance = threading.Lock()
        self._serial: AbstractContextManager[object] = (
            threading.RLock() if _is_local(client) else nullcontext()
        )
        with self._serial:
            self._bootstrap()

    # -- collections ---------------------------------------------------------------------

    def _bootstrap(self) -> None:
        if self.live_collection() is not None:
            return
        if self._client.collection_exists(self.alias):
            raise RuntimeError(f"{self.alias!r} is a collection, not an alias; migrate it first")
        # Past the highest existing generation: a crashed bootstrap may have left one unaliased.
        first = self._collection_name(max([0, *self.generations()]) + 1)
        try:
            self._create_collection(first)
            self._client.update_collection_aliases(change_aliases_operations=[_create(first, self.alias)])
        except Exception:
            # Another instance bootstrapping the same server at the same moment won the race.
            if self.live_collection() is None:
                raise

    def _collection_name(self, generation: int) -> str:
        return f"{self.alias}_{generation:06d}"

    def _create_collection(self, name: str) -> None:
        self._client.create_collection(
            name,
            vectors_config=models.VectorParams(size=self.dim, distance=models.Distance.COSINE),
            hnsw_config=self._hnsw_config,
            quantization_config=self._quantization,
        )
        for field, params in _INDEXES.items():
            self._client.create_payload_index(name, field, field_schema=params)

    def live_collection(self) -> str | None:
        """The collection the alias points at, or None before the first one exists."""
        for alias in self._client.get_aliases().aliases:
            if alias.alias_name == self.alias:
                return alias.collection_name
        return None

    def generations(self) -> list[int]:
        """Generation numbers of every `<alias>_<n>` collection on the server, ascending."""
        names = (c.name for c in self._client.get_collections().collections)
        return sorted(int(m.group(1)) for m in map(self._generation_name.match, names) if m)

    def drop_orphans(self) -> list[str]:
        """Delete `<alias>_<n>` collections the alias does not point at (crashed rebuilds).

        Not done on open: on a shared server another instance may be rebuilding right now.
        """
        with self._serial:
            live = self.live_collection()
            dropped = [n for n in map(self._collection_name, self.generations()) if n != live]
            for name in dropped:
                self._client.delete_collection(name)
        return dropped

    # -- writes --------------------------------------------------------------------------

    def _upsert_into(self, collection: str, points: Sequence[IndexPoint]) -> None:
        for start in range(0, len(points), self._batch_size):
            batch = points[start : start + self._batch_size]
            vectors = codec.vectors_of(batch, self.dim)
            structs = [
                models.PointStruct(
                    id=schema.point_id(p.example_id), vector=vector, payload=codec.payload_of(p)
                )
                for p, vector in zip(batch, vectors, strict=True)
            ]
            with self._serial:
                self._client.upsert(collection, points=structs, wait=True)

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Insert or replace points in the live collection."""
        self._upsert_into(self.alias, points)

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
        # A filter selector, because an id list fails on the first unknown id.
        selector = models.Filter(
            must=[models.HasIdCondition(has_id=[schema.point_id(i) for i in example_ids])]
        )
        with self._serial:
            self._client.set_payload(self.alias, payload=update, points=selector, wait=True)

    def delete(self, example_ids: Sequence[int]) -> None:
        """Remove points; unknown ids are ignored."""
        if not example_ids:
            return
        selector = models.PointIdsList(points=[schema.point_id(i) for i in example_ids])
        with self._serial:
            self._client.delete(self.alias, points_selector=selector, wait=True)

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
        flt = models.Filter(
            must=[
                models.FieldCondition(key=schema.TENANT, match=models.MatchValue(value=tenant)),
                models.FieldCondition(key=schema.STATUS, match=models.MatchAny(any=list(statuses))),
            ]
        )
        requests = [
            models.QueryRequest(
                query=row,
                filter=flt,
                limit=k,
                with_payload=codec.HIT_FIELDS,
                params=self._search_params,
            )
            for row in rows
        ]
        with self._serial:
            responses = self._client.query_batch_points(self.alias, requests=requests)
        return [[codec.hit_of(p.payload, p.score) for p in r.points] for r in responses]

    def retrieve(self, example_ids: Sequence[int], with_vectors: bool = False) -> list[StoredPoint]:
        """Read points back by example id (missing ids are left out)."""
        ids: list[models.ExtendedPointId] = [schema.point_id(i) for i in example_ids]
        with self._serial:
            records = self._client.retrieve(self.alias, ids=ids, with_payload=True, with_vectors=with_vectors)
        stored = [codec.stored_of(r.payload, r.vector if with_vectors else None) for r in records]
        return codec.ordered(stored, example_ids)

    def count(self, tenant: str | None = None) -> int:
        """Number of points, optionally of one tenant."""
        with self._serial:
            return self._client.count(self.alias, count_filter=_tenant_filter(tenant), exact=True).count

    def example_ids(self, tenant: str | None = None) -> set[int]:
        """All example ids in the live collection (for verification)."""
        return {int((r.payload or {})[schema.EXAMPLE_ID]) for r in self._scroll(tenant)}

    def _scroll(self, tenant: str | None) -> Iterator[models.Record]:
        offset: models.ExtendedPointId | None = None
        while True:
            with self._serial:
                records, offset = self._client.scroll(
                    self.alias,
                    scroll_filter=_tenant_filter(tenant),
                    limit=_SCROLL,
                    offset=offset,
                    with_payload=[schema.EXAMPLE_ID],
                    with_vectors=False,
                )
            yield from records
            if offset is None:
                return

    # -- maintenance ---------------------------------------------------------------------

    def begin_rebuild(self, resume: str | None = None) -> ServerRebuild:
        """Create the next `<alias>_<n>` collection to fill beside the live one, or reopen `resume`."""
        if not self._maintenance.acquire(blocking=False):
            raise IndexBusy("a rebuild is already running in this process")
        try:
            with self._serial:
                live = self.live_collection()
                existing = [self._collection_name(n) for n in self.generations()]
                if resume is not None and resume != live and resume in existing:
                    return ServerRebuild(self, resume)
                # Unresumed collections stay until drop_orphans: another instance may own them.
                name = self._collection_name(max([0, *self.generations()]) + 1)
                self._create_collection(name)
        except BaseException:
            self._maintenance.release()
            raise
        return ServerRebuild(self, name)

    def _wait_ready(self, name: str) -> None:
        """Give the server time to finish indexing before the new collection takes traffic."""
        deadline = time.monotonic() + self._ready_timeout
        nudged = False
        while time.monotonic() < deadline:
            with self._serial:
                status = self._client.get_collection(name).status
            if status == models.CollectionStatus.GREEN:
                return
            if status == models.CollectionStatus.GREY and not nudged:
                # Grey: optimizations are pending until an update triggers them.
                with self._serial:
                    self._client.update_collection(name, optimizers_config=models.OptimizersConfigDiff())
                nudged = True
            time.sleep(0.5)

    def _switch(self, name: str) -> None:
        with self._serial:
            old = self.live_collection()
            # Both actions in one request: the server applies them atomically.
            self._client.update_collection_aliases(
                change_aliases_operations=[
                    models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.alias)),
                    _create(name, self.alias),
                ]
            )
            if old is not None and old != name:
                self._client.delete_collection(old)

    def close(self) -> None:
        """Close the client if this store created it."""
        if self._owns_client:
            self._client.close()


class ServerRebuild(Rebuild):
    """A collection being filled beside the live one; the alias still points at the old one."""

    def __init__(self, store: ServerStore, collection: str) -> None:
        self.collection = collection
        self.name = collection
        self._store = store
        self._open = True

    def _check(self) -> None:
        if not self._open:
            raise RuntimeError("rebuild already committed or aborted")

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        """Add points to the new collection."""
        self._check()
        self._store._upsert_into(self.collection, points)

    def count(self) -> int:
        """Points written to the new collection so far."""
        self._check()
        with self._store._serial:
            return self._store._client.count(self.collection, exact=True).count

    def suspend(self) -> None:
        """Stop here; the collection stays on the server for a later resume (writes waited)."""
        if not self._open:
            return
        self._open = False
        self._store._maintenance.release()

    def commit(self) -> None:
        """Wait for indexing, switch the alias atomically, then drop the old collection."""
        self._check()
        self._open = False
        try:
            self._store._wait_ready(self.collection)
            self._store._switch(self.collection)
        finally:
            self._store._maintenance.release()

    def abort(self) -> None:
        """Drop the new collection; the live one is untouched."""
        if not self._open:
            return
        self._open = False
        try:
            with self._store._serial:
                self._store._client.delete_collection(self.collection)
        finally:
            self._store._maintenance.release()


def _create(collection: str, alias: str) -> models.CreateAliasOperation:
    return models.CreateAliasOperation(
        create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
    )


def _tenant_filter(tenant: str | None) -> models.Filter | None:
    if tenant is None:
        return None
    return models.Filter(
        must=[models.FieldCondition(key=schema.TENANT, match=models.MatchValue(value=tenant))]
    )


def _is_local(client: QdrantClient) -> bool:
    """Whether the client runs qdrant-client's in-process local mode rather than a server."""
    # qdrant-client exposes no public flag for this; the local backend's class is stable.
    from qdrant_client.local.qdrant_local import QdrantLocal

    return isinstance(getattr(client, "_client", None), QdrantLocal)
