"""The live shard generation of an edge index, and swapping it without pulling it from under a search."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import qdrant_edge as qe

from indexer import edge_files, schema
from indexer.edge_config import EdgeTuning, payload_index_ops
from indexer.edge_payloads import PayloadMirror


@dataclass
class Generation:
    """An open shard generation, its points' payloads and the calls currently using it."""

    number: int
    directory: Path
    shard: qe.EdgeShard
    payloads: PayloadMirror
    users: int = 0
    retired: bool = False
    drop: bool = False


class LiveShard:
    """Owns the index directory: opens the live generation, creates new ones, switches between them."""

    def __init__(self, root: Path, config: qe.EdgeConfig, tuning: EdgeTuning) -> None:
        self.root = root
        self._config = config
        self._tuning = tuning
        self._lock = threading.Lock()  # guards _live and the users counts
        root.mkdir(parents=True, exist_ok=True)
        self._dir_lock = edge_files.lock(root)
        try:
            self._live: Generation | None = self._open()
        except BaseException:
            edge_files.unlock(self._dir_lock)
            raise

    def _open(self) -> Generation:
        number = edge_files.read_pointer(self.root)
        # Whatever is not live is a rebuild or optimize copy that a crash left half-done.
        edge_files.sweep(self.root, keep=number)
        if number is None:
            number = 1
            shard = self.create(number)
            edge_files.write_pointer(self.root, number)
            payloads = PayloadMirror()
        else:
            shard = self.load(edge_files.generation_dir(self.root, number))
            payloads = PayloadMirror.of_shard(shard)
        return Generation(number, edge_files.generation_dir(self.root, number), shard, payloads)

    def create(self, number: int) -> qe.EdgeShard:
        """A new, empty shard for generation `number`, with its payload indexes."""
        shard = qe.EdgeShard.create(str(edge_files.generation_dir(self.root, number)), self._config)
        for op in payload_index_ops(self._tuning):
            shard.update(op)
        shard.flush()
        return shard

    def load(self, directory: Path) -> qe.EdgeShard:
        """Open an existing shard directory with the current configuration."""
        shard = qe.EdgeShard.load(str(directory), self._config)
        missing = set(schema.KEYWORD_FIELDS + schema.INTEGER_FIELDS) - set(shard.info().payload_schema)
        if missing:
            # A shard written before an index existed gets it now rather than scanning.
            for op in payload_index_ops(self._tuning):
                shard.update(op)
        return shard

    @property
    def number(self) -> int:
        """Number of the live generation."""
        return self._current().number

    @property
    def directory(self) -> Path:
        """Directory of the live generation."""
        return self._current().directory

    def _current(self) -> Generation:
        with self._lock:
            if self._live is None:
                raise RuntimeError("EdgeStore is closed")
            return self._live

    def next_number(self) -> int:
        """A generation number no directory uses yet."""
        return max([self.number, *edge_files.generations(self.root)]) + 1

    @contextmanager
    def using(self) -> Iterator[qe.EdgeShard]:
        """The live shard, kept open until the caller is done even if a switch retires it."""
        with self.using_generation() as live:
            yield live.shard

    def using_generation(self) -> _InUse:
        """The live generation (shard and payloads), kept open until the caller is done."""
        return _InUse(self)

    def _take(self) -> Generation:
        with self._lock:
            live = self._live
            if live is None:
                raise RuntimeError("EdgeStore is closed")
            live.users += 1
            return live

    def _give_back(self, live: Generation) -> None:
        with self._lock:
            live.users -= 1
            idle = live.retired and live.users == 0
        if idle:
            _dispose(live)

    def switch(self, number: int, shard: qe.EdgeShard, payloads: PayloadMirror | None = None) -> None:
        """Make generation `number` live: the pointer first (durable), then the in-memory handle.

        `payloads` are the new shard's when the caller knows them already (an optimized copy
        holds the points the live shard holds); otherwise they are read from the shard.
        """
        payloads = payloads if payloads is not None else PayloadMirror.of_shard(shard)
        edge_files.write_pointer(self.root, number)
        generation = Generation(number, edge_files.generation_dir(self.root, number), shard, payloads)
        self._replace(generation, drop=True)

    def close(self) -> None:
        """Close the live shard (once no call uses it) and release the directory."""
        with self._lock:
            if self._live is None:
                return
            self._live.shard.flush()
        self._replace(None, drop=False)
        edge_files.unlock(self._dir_lock)

    def _replace(self, new: Generation | None, *, drop: bool) -> None:
        with self._lock:
            old, self._live = self._live, new
            if old is None:
                return
            old.retired, old.drop = True, drop
            idle = old.users == 0
        if idle:
            _dispose(old)


class _InUse:
    """`with live_shard.using_generation() as generation:` (a class rather than a generator:
    every search enters one, right after a model run, when each interpreter step is slow)."""

    __slots__ = ("_owner", "_live")

    def __init__(self, owner: LiveShard) -> None:
        self._owner = owner

    def __enter__(self) -> Generation:
        self._live = self._owner._take()
        return self._live

    def __exit__(self, *exc_info: object) -> None:
        self._owner._give_back(self._live)


def _dispose(generation: Generation) -> None:
    generation.shard.close()
    if generation.drop:
        shutil.rmtree(generation.directory, ignore_errors=True)
