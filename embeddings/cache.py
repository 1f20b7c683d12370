"""A persistent content-hash cache, so the same text is never embedded twice per model."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from embeddings.base import Embedder
from embeddings.key_index import KeyIndex, prefixes_of

# CPython's own SHA-256 gives the same digests as OpenSSL's, and a live match hashes its one
# text right after a model run, where OpenSSL's layers of indirection cost 19 us against 6 us.
try:
    from _sha256 import sha256 as _sha256
except ImportError:  # an interpreter built without it
    from hashlib import sha256 as _sha256

# SQLite caps bound parameters per statement (999 on old builds); stay well under it.
_CHUNK = 500
# A lone lookup trusts a key index caught up with other writers this recently (see _caught_up).
LONE_CATCH_UP_S = 1.0

_TABLE = "embedding_rows"
# `seq` grows with every write, so a process can read just what others stored since it last looked.
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id  TEXT NOT NULL,
    text_hash BLOB NOT NULL,
    vector    BLOB NOT NULL,
    UNIQUE (model_id, text_hash)
)
"""
# Caches written before `seq` existed keep their rows in this table; they are moved once.
_LEGACY_TABLE = "embeddings"
_INSERT = f"INSERT OR REPLACE INTO {_TABLE} (model_id, text_hash, vector) VALUES (?, ?, ?)"

log = logging.getLogger(__name__)


def _new_committer() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="pls-embedding-cache")


# One thread commits for every cache in the process: a commit comes once per `flush_size`
# rows, and a shared committer needs no start or stop of its own.
_COMMITTER = _new_committer()


def _new_committer_in_child() -> None:
    # A forked child inherits the executor but not its thread; work queued there would wait forever.
    global _COMMITTER
    _COMMITTER = _new_committer()


os.register_at_fork(after_in_child=_new_committer_in_child)

Row = tuple[str, bytes]  # (model_id, text key)


def text_key(text: str) -> bytes:
    """The cache key of a text: the sha256 digest of its UTF-8 bytes."""
    return _sha256(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """Float32 vectors in a SQLite file, keyed by (model_id, sha256(text)); thread-safe.

    Writes are buffered and committed together (`flush_size` rows or `flush_after_s` seconds,
    and on `flush`/`close`): one commit per single-text write would cost more than the
    lookup saves on the live matching path. A due commit runs on a background thread with a
    connection of its own, so the caller whose row made it due does not wait for the disk
    (256 rows take about 4 ms, and over 20 ms when SQLite checkpoints its log) and lookups
    go on meanwhile. Buffered rows, and rows being committed, are served by reads at once; a
    crash can lose only the uncommitted rows, which are merely re-embedded later.

    Each model's keys are also held in memory (`KeyIndex`), so a text that was never cached
    is known to be absent without reading the file. Rows other processes commit are picked
    up before a key is declared absent (for a lone key, within `lone_catch_up_s`): SQLite's
    `data_version` says whether anyone else has written since the index last caught up, and
    `seq` says from where to read.
    """

    def __init__(
        self,
        path: Path,
        flush_size: int = 256,
        flush_after_s: float = 2.0,
        lone_catch_up_s: float = LONE_CATCH_UP_S,
    ) -> None:
        self.path = Path(path)
        self.lone_catch_up_s = lone_catch_up_s
        self.flush_size = flush_size
        self.flush_after_s = flush_after_s
        self._pending: dict[Row, bytes] = {}
        self._pending_since = 0.0
        self._retry_at = 0.0  # after a failed commit, the next try waits until then
        self._committing: dict[Row, bytes] = {}  # taken from _pending by the commit under way
        self._commit_queued = False  # a background commit is queued or under way
        self._commit_lock = threading.Lock()  # one commit at a time; held for the disk write
        self._closed = False
        self._known: dict[str, KeyIndex] = {}
        self._caught_up_at: dict[str, float] = {}  # monotonic time of each model's last catch-up
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by all threads behind a lock: statements here take
        # microseconds, and WAL keeps other processes' readers and writers unblocked.
        self._conn = _connect(self.path)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)
            self._move_legacy_rows()
        # Commits go through a connection of their own, so they never hold the readers' lock.
        self._writer = _connect(self.path)

    def get_many(self, model_id: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        """The cached vector of each text, or None where it is not cached."""
        return self.get_keys(model_id, [text_key(text) for text in texts])

    def get_keys(self, model_id: str, keys: Sequence[bytes]) -> list[np.ndarray | None]:
        """The cached vector of each key (`text_key` of a text), or None where it is not cached.

        The lock is taken per chunk of keys: a lone lookup (a live match) arriving while a
        memory load looks up 200,000 keys waits for one chunk, not for all of them.
        """
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            if start:
                # Python's locks are not fair: a thread that lets go of one and takes it again
                # at once keeps it. Yielding here lets a waiting lookup or write in first.
                time.sleep(0)
            with self._lock:
                self._look_up(model_id, unique[start : start + _CHUNK], len(unique) == 1, found)
        return [found.get(key) for key in keys]

    def _look_up(self, model_id: str, keys: list[bytes], lone: bool, found: dict[bytes, np.ndarray]) -> None:
        """Add the vectors of `keys` that are buffered or stored to `found` (under the lock)."""
        missing: list[bytes] = []
        for key in keys:
            blob = self._pending.get((model_id, key)) or self._committing.get((model_id, key))
            if blob is not None:
                found[key] = np.frombuffer(blob, dtype=np.float32)
            else:
                missing.append(key)
        if not missing:
            return
        known = self._caught_up(model_id, lone=lone)
        stored = [key for key in missing if key in known]
        if not stored:
            return
        marks = ",".join("?" * len(stored))
        rows = self._conn.execute(
            f"SELECT text_hash, vector FROM {_TABLE} WHERE model_id = ? AND text_hash IN ({marks})",
            (model_id, *stored),
        )
        for key, blob in rows:
            found[key] = np.frombuffer(blob, dtype=np.float32)

    def put_many(self, model_id: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store one vector per text (replacing what was there); committed in batches."""
        self.put_keys(model_id, [text_key(text) for text in texts], vectors)

    def put_keys(self, model_id: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store one vector per key (`text_key` of a text); committed in batches."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) != len(keys):
            raise ValueError(f"{len(keys)} keys but {len(vectors)} vectors")
        with self._lock:
            if not self._pending:
                self._pending_since = time.monotonic()
            for key, vector in zip(keys, vectors, strict=True):
                self._pending[(model_id, key)] = vector.tobytes()
            known = self._known.get(model_id)
            if known is not None:
                known.add(keys)
            now = time.monotonic()
            due = len(self._pending) >= self.flush_size or now - self._pending_since >= self.flush_after_s
            if due and now >= self._retry_at and not self._commit_queued:
                self._commit_queued = True
                _COMMITTER.submit(self._commit_in_background)

    def flush(self) -> None:
        """Commit every buffered write now (after any commit already under way)."""
        self._commit()

    def _commit_in_background(self) -> None:
        try:
            self._commit()
        except Exception as error:  # the rows stay buffered; the next due commit retries them
            log.warning("committing cached embeddings to %s failed: %s", self.path, error)
        finally:
            with self._lock:
                self._commit_queued = False

    def _commit(self) -> None:
        """Write the buffered rows through the writer connection; on failure they stay buffered."""
        with self._commit_lock:
            with self._lock:
                if self._closed or not self._pending:
                    return
                batch, self._pending = self._pending, {}
                self._committing = batch
            try:
                with _transaction(self._writer, "IMMEDIATE"):
                    self._write_rows([(model_id, key, blob) for (model_id, key), blob in batch.items()])
            except BaseException:
                with self._lock:
                    # Rows written again meanwhile are newer than these: keep those.
                    self._pending = {**batch, **self._pending}
                    self._retry_at = time.monotonic() + self.flush_after_s
                    self._committing = {}
                raise
            with self._lock:
                self._committing = {}

    def _write_rows(self, rows: list[tuple[str, bytes, bytes]]) -> None:
        self._writer.executemany(_INSERT, rows)

    def _caught_up(self, model_id: str, lone: bool = False) -> KeyIndex:
        """The model's key index, loaded on first use and brought up to date with other writers.

        A `lone` key (a live match looks up one text) uses an index caught up within the last
        `lone_catch_up_s`: asking SQLite whether anyone wrote costs about 30 us after a model
        run, on every match, while missing a row written meanwhile costs one model run for that
        text, rarely. Lookups of several keys (imports, the outbox, reindex) always catch up.
        """
        known = self._known.get(model_id)
        now = time.monotonic()
        if lone and known is not None and now - self._caught_up_at.get(model_id, 0.0) < self.lone_catch_up_s:
            return known
        self._caught_up_at[model_id] = now
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if known is None:
            # One read transaction, so the keys and the seq they reach are the same snapshot.
            with _transaction(self._conn):
                seq = self._conn.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {_TABLE}").fetchone()[0]
                keys = self._conn.execute(f"SELECT text_hash FROM {_TABLE} WHERE model_id = ?", (model_id,))
                known = KeyIndex(prefixes_of(key for (key,) in keys), int(seq), version)
            # Rows not committed yet (or being committed) are not in that snapshot.
            known.add(key for (model, key) in [*self._pending, *self._committing] if model == model_id)
            self._known[model_id] = known
        elif known.data_version != version:  # another connection has committed since
            rows = self._conn.execute(
                f"SELECT seq, text_hash FROM {_TABLE} WHERE seq > ? AND model_id = ? ORDER BY seq",
                (known.seq, model_id),
            ).fetchall()
            known.catch_up(rows, version)
        return known

    def _move_legacy_rows(self) -> None:
        """Move the rows of a cache written before `seq` existed into today's table, once."""
        if not self._has_legacy_table():
            return  # the usual case, decided without taking the write lock
        with _transaction(self._conn, "IMMEDIATE"):
            # Checked again under the write lock: another process may have moved them already.
            if self._has_legacy_table():
                self._conn.execute(
                    f"INSERT OR IGNORE INTO {_TABLE} (model_id, text_hash, vector) "
                    f"SELECT model_id, text_hash, vector FROM {_LEGACY_TABLE}"
                )
                self._conn.execute(f"DROP TABLE {_LEGACY_TABLE}")

    def _has_legacy_table(self) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._conn.execute(query, (_LEGACY_TABLE,)).fetchone() is not None

    def count(self, model_id: str | None = None) -> int:
        """How many vectors are cached, for one model or for all."""
        self.flush()
        with self._lock:
            if model_id is None:
                row = self._conn.execute(f"SELECT COUNT(*) FROM {_TABLE}").fetchone()
            else:
                row = self._conn.execute(
                    f"SELECT COUNT(*) FROM {_TABLE} WHERE model_id = ?", (model_id,)
                ).fetchone()
        return int(row[0])

    def close(self) -> None:
        """Commit buffered writes and close the database connections."""
        self._commit()
        with self._commit_lock, self._lock:
            self._closed = True  # a background commit still queued finds nothing to do
            self._conn.close()
            self._writer.close()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    # A cache may lose its last writes in a power cut; it must not pay an fsync each.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@contextmanager
def _transaction(conn: sqlite3.Connection, kind: str = "") -> Iterator[None]:
    """One explicit transaction (`kind` "IMMEDIATE" takes the write lock at once)."""
    conn.execute(f"BEGIN {kind}")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class CachedEmbedder(Embedder):
    """Wraps an embedder: looks every text up first and embeds only the misses, once each.

    Owns `inner` and `cache`: `close()` closes both. `hits + misses` counts rows requested;
    `misses` is the number of texts actually sent to the inner embedder.
    """

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.batch_size = inner.batch_size
        self.hits = 0
        self.misses = 0
        self._counter_lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts, serving cached rows and storing new ones; rows keep input order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Each text is hashed once, for the lookup and the write alike.
        key_of = {text: text_key(text) for text in texts}
        cached = self.cache.get_keys(self.model_id, [key_of[text] for text in texts])
        # A row of the wrong size can only come from a foreign writer; recompute it.
        cached = [v if v is not None and v.shape == (self.dim,) else None for v in cached]
        missing = list(dict.fromkeys(t for t, v in zip(texts, cached, strict=True) if v is None))
        fresh: dict[str, np.ndarray] = {}
        if missing:
            vectors = self.inner.embed(missing)
            self.cache.put_keys(self.model_id, [key_of[text] for text in missing], vectors)
            fresh = dict(zip(missing, vectors, strict=True))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, (text, vector) in enumerate(zip(texts, cached, strict=True)):
            out[row] = fresh[text] if vector is None else vector
        with self._counter_lock:
            self.misses += len(missing)
            self.hits += len(texts) - len(missing)
        return out

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Same as `embed`: the cache already batches lookups and inner calls."""
        return self.embed(texts)

    def close(self) -> None:
        """Close the inner embedder and the cache."""
        self.inner.close()
        self.cache.close()
