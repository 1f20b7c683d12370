"""Shared fixtures: databases (SQLite and the PostgreSQL server), settings, a fake embedder."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from app.config import Settings
from app.db import make_engine, migrate
from embeddings.base import Embedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PG_ADMIN_URL = os.environ.get("PLS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    import psycopg

    try:
        psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3).close()
        return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The PostgreSQL server's admin URL; a missing server fails in CI and skips elsewhere."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (required in CI)")
        pytest.skip("PostgreSQL is not reachable")
    return PG_ADMIN_URL


@pytest.fixture
def postgres_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"pls_t_{uuid.uuid4().hex[:12]}"
    admin = pg_admin_url.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_admin_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The data layer is tested on both databases the service supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pls.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on each supported database."""
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings that keep every store in a temporary directory."""
    return Settings(
        var_dir=tmp_path / "var",
        cache_dir=tmp_path / "cache",
        database_url=None,
        qdrant_url=None,
        _env_file=None,  # type: ignore[call-arg]
    )


class FakeEmbedder(Embedder):
    """Deterministic bag-of-words vectors: texts sharing words are close. Counts its calls."""

    model_id = "fake-bow"
    dim = 64
    batch_size = 16

    def __init__(self) -> None:
        self.calls = 0
        self.texts_embedded = 0

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim
                out[row, bucket] += 1.0
            if not out[row].any():
                out[row, 0] = 1.0
        return out


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


def api_key(engine: Engine, tenant: str = "default", role: str = "admin") -> str:
    """A fresh API key for `tenant` with `role`."""
    from app.auth import create_key
    from app.db import session_scope

    with session_scope(engine) as session:
        _, key = create_key(session, tenant, role, f"tests-{role}")
    return key


def api_client(services, tenant: str = "default", role: str = "admin"):  # type: ignore[no-untyped-def]
    """A TestClient of the app that presents a key of `tenant` with `role`."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    key = api_key(services.engine, tenant, role)
    return TestClient(create_app(services=services), headers={"Authorization": f"Bearer {key}"})


def wait_until_loaded(services, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for the service's start-up loading of the tenants' memories (readiness waits for it)."""
    deadline = time.monotonic() + timeout
    while services.memories.warming() is not None:
        assert time.monotonic() < deadline, "the tenants' memories did not load"
        time.sleep(0.01)


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A scratch directory on tmpfs when there is one: the engines fsync, and disk durability
    is not what these tests check (a fsync costs ~0.1 s on this machine's disk)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="pls-index-", dir=shm))
    yield path
    shutil.rmtree(path, ignore_errors=True)
