"""Waiting for the database and the Qdrant server before serving (container start-up)."""

from __future__ import annotations

import time

from sqlalchemy import text

from app.config import Settings
from app.db import make_engine


def _database_ready(settings: Settings) -> str | None:
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as error:
        return f"database: {error.__class__.__name__}: {error}"
    finally:
        engine.dispose()


def _qdrant_ready(settings: Settings) -> str | None:
    if not settings.qdrant_url:
        return None  # the embedded engine is always there
    from qdrant_client import QdrantClient

    try:
        QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key, timeout=5).get_collections()
        return None
    except Exception as error:
        return f"qdrant: {error.__class__.__name__}: {error}"


def wait_for_dependencies(settings: Settings, poll_s: float = 2.0) -> str | None:
    """None once both answer; otherwise what still failed when the timeout ran out."""
    deadline = time.monotonic() + settings.wait_timeout_s
    while True:
        problem = _database_ready(settings) or _qdrant_ready(settings)
        if problem is None or time.monotonic() >= deadline:
            return problem
        time.sleep(poll_s)
