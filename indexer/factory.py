"""Choosing the engine from settings: a Qdrant URL means a server, otherwise the embedded one."""

from __future__ import annotations

from pathlib import Path

from qdrant_client import QdrantClient

from indexer.edge import EdgeStore
from indexer.held_elsewhere import HeldElsewhereStore
from indexer.server import ServerStore
from indexer.store import IndexHeldElsewhere, VectorStore

LOCAL_PREFIX = "local:"


def build_store(
    *, url: str | None, api_key: str | None, path: Path, dim: int, held_elsewhere_ok: bool = False
) -> VectorStore:
    """The vector store for these settings.

    `url` may be a server URL, ":memory:" or "local:<dir>" (qdrant-client's local mode, for
    tests), or None/empty for the embedded edge engine persisted under `path`. When another
    process holds that embedded index, `held_elsewhere_ok` gives a `HeldElsewhereStore` (writes
    are left to that process) instead of raising `IndexHeldElsewhere`.
    """
    if not url:
        try:
            return EdgeStore(path, dim)
        except IndexHeldElsewhere as error:
            if not held_elsewhere_ok:
                raise
            return HeldElsewhereStore(path, str(error))
    if url == ":memory:":
        client = QdrantClient(":memory:")
    elif url.startswith(LOCAL_PREFIX):
        # ServerStore serialises local-mode calls itself, so SQLite may cross threads.
        client = QdrantClient(
            path=url[len(LOCAL_PREFIX) :] or str(path), force_disable_check_same_thread=True
        )
    else:
        client = QdrantClient(url=url, api_key=api_key)
    return ServerStore(client, dim, owns_client=True)
