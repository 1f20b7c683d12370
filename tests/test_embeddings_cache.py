"""The content-hash cache: each text is embedded once per model, ever."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from embeddings import cache as embedding_cache
from embeddings import key_index
from embeddings.cache import CachedEmbedder, EmbeddingCache, text_key
from embeddings.key_index import KeyIndex, prefixes_of
from tests.embedding_fixtures import FakeEmbedder, expected_rows


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "embeddings.sqlite"


def cached(path: Path, model_id: str = "fake") -> tuple[CachedEmbedder, FakeEmbedder]:
    inner = FakeEmbedder(model_id=model_id)
    return CachedEmbedder(inner, EmbeddingCache(path)), inner


def test_same_text_is_never_embedded_twice(cache_path: Path) -> None:
    embedder, inner = cached(cache_path)
    embedder.embed(["a", "b"])
    embedder.embed(["b", "c", "a"])
    embedder.embed_one("c")
    assert sorted(inner.embedded) == ["a", "b", "c"]
    assert (embedder.misses, embedder.hits) == (3, 3)


def test_rows_keep_input_order_and_duplicates(cache_path: Path) -> None:
    embedder, inner = cached(cache_path)
    embedder.embed(["x"])
    texts = ["y", "x", "y", "z", "x", "y"]
    rows = embedder.embed(texts)
    np.testing.assert_allclose(rows, expected_rows(texts), atol=1e-6)
    assert inner.calls[-1] == ["y", "z"]  # only the misses, each once, in first-seen order
    assert (embedder.misses, embedder.hits) == (3, 4)


def test_cached_rows_are_the_unit_float32_rows_first_returned(cache_path: Path) -> None:
    embedder, _ = cached(cache_path)
    first = embedder.embed(["hello", "world"])
    again = embedder.embed(["world", "hello"])
    assert again.dtype == np.float32
    np.testing.assert_array_equal(again, first[::-1])
    np.testing.assert_allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-6)


def test_cache_survives_close_and_reopen(cache_path: Path) -> None:
    embedder, _ = cached(cache_path)
    before = embedder.embed(["kept", "across", "runs"])
    embedder.close()

    reopened, inner = cached(cache_path)
    after = reopened.embed(["runs", "kept", "across"])
    assert inner.embedded == []
    np.testing.assert_array_equal(after, before[[2, 0, 1]])
    assert reopened.cache.count("fake") == 3


def test_each_model_id_has_its_own_entries(cache_path: Path) -> None:
    old, _ = cached(cache_path, model_id="model-a")
    old.embed(["same text"])
    old.close()

    new, inner = cached(cache_path, model_id="model-b")
    new.embed(["same text"])
    assert inner.embedded == ["same text"]
    assert new.cache.count("model-a") == new.cache.count("model-b") == 1


def test_close_closes_inner_embedder(cache_path: Path) -> None:
    embedder, inner = cached(cache_path)
    embedder.close()
    assert inner.closed


def test_failed_embedding_stores_nothing(cache_path: Path) -> None:
    inner = FakeEmbedder(fail_on="boom")
    embedder = CachedEmbedder(inner, EmbeddingCache(cache_path))
    with pytest.raises(ValueError):
        embedder.embed(["fine", "boom"])
    assert embedder.cache.count() == 0


def test_lookups_beyond_the_sql_parameter_limit(cache_path: Path) -> None:
    embedder, inner = cached(cache_path)
    texts = [f"text {i}" for i in range(1200)]
    embedder.embed(texts)
    rows = embedder.embed(texts)
    assert len(inner.embedded) == 1200
    np.testing.assert_allclose(rows, expected_rows(texts), atol=1e-6)


def test_empty_input_gives_empty_matrix(cache_path: Path) -> None:
    embedder, inner = cached(cache_path)
    assert embedder.embed([]).shape == (0, 8)
    assert inner.calls == []


def test_threads_share_one_cache_safely(cache_path: Path) -> None:
    embedder, inner = cached(cache_path)
    texts = [f"shared {i}" for i in range(40)]
    results: dict[int, np.ndarray] = {}

    def work(worker: int) -> None:
        for start in range(0, 40, 5):
            chunk = texts[start : start + 5]
            results[worker * 100 + start] = embedder.embed(chunk)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for key, rows in results.items():
        start = key % 100
        np.testing.assert_allclose(rows, expected_rows(texts[start : start + 5]), atol=1e-6)
    assert embedder.cache.count() == 40
    assert embedder.hits + embedder.misses == 8 * 40


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Whether `check` comes true within `timeout_s` (for what a background thread does)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_writes_are_buffered_served_at_once_and_committed_on_close(tmp_path: Path) -> None:
    writer = EmbeddingCache(tmp_path / "c.sqlite", flush_size=10, flush_after_s=60)
    reader = EmbeddingCache(tmp_path / "c.sqlite", lone_catch_up_s=0)
    writer.put_many("m", ["a"], np.ones((1, 4), dtype=np.float32))
    assert writer.get_many("m", ["a"])[0] is not None
    assert reader.get_many("m", ["a"]) == [None]  # one commit per batch, not per row
    writer.put_many("m", [f"t{i}" for i in range(9)], np.ones((9, 4), dtype=np.float32))
    # The tenth row made a commit due, and the background committer makes it.
    assert eventually(lambda: reader.get_many("m", ["a"])[0] is not None)
    writer.put_many("m", ["b"], np.ones((1, 4), dtype=np.float32))
    writer.close()
    assert reader.get_many("m", ["b"])[0] is not None
    reader.close()


def test_a_due_commit_runs_beside_callers_who_go_on_reading_and_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite", flush_size=2, flush_after_s=60)
    reader = EmbeddingCache(tmp_path / "c.sqlite", lone_catch_up_s=0)
    writing, release = threading.Event(), threading.Event()
    write_rows = cache._write_rows

    def slow_disk(rows: list[tuple[str, bytes, bytes]]) -> None:
        writing.set()
        release.wait(10)
        write_rows(rows)

    monkeypatch.setattr(cache, "_write_rows", slow_disk)
    cache.put_many("m", ["a", "b"], np.ones((2, 4), dtype=np.float32))  # makes a commit due
    assert writing.wait(10)
    # The commit is held up on the disk; the caller who made it due already has control back.
    assert cache.get_many("m", ["a"])[0] is not None  # rows being committed are still served
    cache.put_many("m", ["c"], np.full((1, 4), 2.0, dtype=np.float32))
    np.testing.assert_array_equal(cache.get_many("m", ["c"])[0], np.full(4, 2.0, dtype=np.float32))
    assert reader.get_many("m", ["a"]) == [None]  # not committed yet
    release.set()
    cache.flush()  # waits for the commit under way, then commits "c"
    assert all(v is not None for v in reader.get_many("m", ["a", "b", "c"]))
    cache.close()
    reader.close()


def test_a_failed_commit_keeps_its_rows_and_waits_before_trying_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite", flush_size=100, flush_after_s=60)
    cache.put_many("m", ["a"], np.ones((1, 4), dtype=np.float32))

    tries: list[int] = []

    def full_disk(rows: list[tuple[str, bytes, bytes]]) -> None:
        tries.append(len(rows))
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(cache, "_write_rows", full_disk)
    with pytest.raises(sqlite3.OperationalError):
        cache.flush()
    assert cache.get_many("m", ["a"])[0] is not None  # still served from the buffer
    # Rows keep coming while the disk is full: no commit is tried again before flush_after_s.
    cache.put_many("m", [f"t{i}" for i in range(150)], np.ones((150, 4), dtype=np.float32))
    embedding_cache._COMMITTER.submit(lambda: None).result()  # whatever was queued before has run
    assert tries == [1]
    monkeypatch.undo()
    cache.close()
    reopened = EmbeddingCache(tmp_path / "c.sqlite")
    assert reopened.get_many("m", ["a"])[0] is not None
    reopened.close()


def vector_reads(cache: EmbeddingCache) -> list[str]:
    """Collects the statements that read vectors from the cache file from now on."""
    statements: list[str] = []
    cache._conn.set_trace_callback(
        lambda sql: statements.append(sql) if sql.startswith("SELECT text_hash, vector") else None
    )
    return statements


def test_a_text_never_cached_is_known_absent_without_reading_the_file(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite", flush_size=1)
    cache.put_many("m", [f"t{i}" for i in range(50)], np.ones((50, 4), dtype=np.float32))
    cache.flush()
    reopened = EmbeddingCache(tmp_path / "c.sqlite")
    reads = vector_reads(reopened)
    assert reopened.get_many("m", ["never seen", "nor this"]) == [None, None]
    assert reads == []
    assert reopened.get_many("m", ["t7"])[0] is not None  # a cached text is still read
    assert len(reads) == 1
    assert reopened.get_many("other-model", ["t7"]) == [None]  # keys are per model
    cache.close()
    reopened.close()


def test_rows_another_process_commits_are_found_after_the_index_was_loaded(tmp_path: Path) -> None:
    reader = EmbeddingCache(tmp_path / "c.sqlite", lone_catch_up_s=0)
    assert reader.get_many("m", ["late"]) == [None]  # loads the (empty) key index
    writer = EmbeddingCache(tmp_path / "c.sqlite", flush_size=1)
    writer.put_many("m", ["late", "later"], np.full((2, 4), 3.0, dtype=np.float32))
    writer.flush()
    found = reader.get_many("m", ["later", "late", "absent"])
    np.testing.assert_array_equal(found[0], np.full(4, 3.0, dtype=np.float32))
    assert found[1] is not None and found[2] is None
    writer.close()
    reader.close()


def test_a_lone_lookup_trusts_the_key_index_for_a_while_and_several_keys_catch_up(tmp_path: Path) -> None:
    reader = EmbeddingCache(tmp_path / "c.sqlite", lone_catch_up_s=60)
    assert reader.get_many("m", ["x"]) == [None]  # loads the (empty) key index
    writer = EmbeddingCache(tmp_path / "c.sqlite", flush_size=1)
    writer.put_many("m", ["x", "y"], np.ones((2, 4), dtype=np.float32))
    writer.flush()
    # One text (a live match) is embedded again rather than asking SQLite on every lookup...
    assert reader.get_many("m", ["x"]) == [None]
    # ...while several (an import, the outbox) always pick up what others wrote.
    assert all(v is not None for v in reader.get_many("m", ["x", "y", "x"]))
    reader.lone_catch_up_s = 0
    writer.put_many("m", ["z"], np.ones((1, 4), dtype=np.float32))
    writer.flush()
    assert reader.get_many("m", ["z"])[0] is not None
    writer.close()
    reader.close()


def test_a_cache_written_before_seq_existed_keeps_its_vectors(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE embeddings (model_id TEXT NOT NULL, text_hash BLOB NOT NULL, "
            "vector BLOB NOT NULL, PRIMARY KEY (model_id, text_hash)) WITHOUT ROWID"
        )
        old.execute(
            "INSERT INTO embeddings VALUES (?, ?, ?)",
            ("m", text_key("kept"), np.arange(4, dtype=np.float32).tobytes()),
        )
    old.close()
    cache = EmbeddingCache(path)
    np.testing.assert_array_equal(cache.get_many("m", ["kept"])[0], np.arange(4, dtype=np.float32))
    assert cache.count() == 1
    cache.close()


def test_key_index_merges_recent_keys_into_the_sorted_array(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(key_index, "_MERGE_AT", 3)
    keys = [text_key(f"k{i}") for i in range(10)]
    index = KeyIndex(prefixes_of(keys[:4]), seq=0, data_version=0)
    index.add(keys[4:7])  # reaches the merge size
    index.add(keys[7:8])
    assert len(index) == 8
    assert all(key in index for key in keys[:8])
    assert keys[8] not in index and keys[9] not in index


def test_key_index_holds_prefixes_across_the_whole_unsigned_64_bit_range() -> None:
    def key(prefix: int) -> bytes:
        return prefix.to_bytes(8, "little") + bytes(24)

    held = [key(2**64 - 1), key(2**63 + 5), key(0)]
    index = KeyIndex(prefixes_of(held), seq=0, data_version=0)
    assert all(k in index for k in held)
    assert key(2**63 - 1) not in index and key(2**63 + 6) not in index


def test_text_key_is_the_sha256_of_the_utf8_text() -> None:
    # Caches written by earlier installs stay valid only while the key is this digest.
    for text in ["hello", "caf\u00e9 \U0001f600", "lone \ud800 surrogate"]:
        assert text_key(text) == hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def test_a_forked_child_still_commits_in_the_background(tmp_path: Path) -> None:
    parent = EmbeddingCache(tmp_path / "parent.sqlite", flush_size=1)
    parent.put_many("m", ["before fork"], np.ones((1, 4), dtype=np.float32))  # starts the committer
    parent.flush()
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its due commit lands without a flush
        code = 1
        try:
            child = EmbeddingCache(tmp_path / "child.sqlite", flush_size=1)
            reader = EmbeddingCache(tmp_path / "child.sqlite", lone_catch_up_s=0)
            child.put_many("m", ["after fork"], np.ones((1, 4), dtype=np.float32))
            code = 0 if eventually(lambda: reader.get_many("m", ["after fork"])[0] is not None) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    parent.close()


def test_a_lone_lookup_is_not_held_up_by_a_long_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A memory load looks up every example's texts; a live match's lookup beside it gets in
    between two of its chunks instead of waiting for all of them."""
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    keys = [text_key(f"text {i}") for i in range(20 * embedding_cache._CHUNK)]
    cache.put_keys("m", keys, np.ones((len(keys), 4), dtype=np.float32))
    cache.flush()
    order: list[str] = []
    first_chunk_done = threading.Event()
    look_up = EmbeddingCache._look_up

    def slow_chunks(self: EmbeddingCache, model_id: str, chunk: list[bytes], lone: bool, found: dict) -> None:
        look_up(self, model_id, chunk, lone, found)
        order.append("lone" if lone else "chunk")
        if not lone:
            first_chunk_done.set()
            time.sleep(0.01)  # holding the lock, as a chunk's SQL read does

    monkeypatch.setattr(EmbeddingCache, "_look_up", slow_chunks)
    long_one = threading.Thread(target=cache.get_keys, args=("m", keys))
    long_one.start()
    assert first_chunk_done.wait(10)
    assert cache.get_keys("m", [keys[-1]])[0] is not None
    long_one.join(10)
    assert order.count("chunk") == 20
    assert order.index("lone") < 15, order  # not after the last chunk, as one lock for all made it
    cache.close()
