"""The object graph of a running PLS: built once per process from Settings."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from sqlalchemy import Engine

from app.config import Settings
from app.db import make_engine, migrate
from app.flow.live import LiveHub
from app.flow.worker import LiveFlow
from app.governance.service import GovernanceService
from app.indexing import IndexWriter, SqlNeighbours
from app.learning.calibrate import CalibrationService
from app.learning.decision_log import DecisionLog
from app.learning.feedback import calibration_rows
from app.learning.learner import Learner
from app.learning.loader import MemoryLoader
from app.learning.matcher import Matcher
from app.learning.memory import MemoryRegistry
from app.privacy import install_log_masking
from app.search import SearchService
from app.sending.base import Sender
from app.sending.factory import build_sender
from embeddings.base import Embedder
from embeddings.batching import unbatched
from embeddings.factory import build_embedder
from indexer.factory import build_store
from indexer.held_elsewhere import HeldElsewhereStore
from indexer.store import VectorStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a request, a CLI command or a benchmark needs, wired together."""

    settings: Settings
    engine: Engine
    embedder: Embedder
    store: VectorStore
    memories: MemoryRegistry
    index_writer: IndexWriter
    learner: Learner
    matcher: Matcher
    decisions: DecisionLog
    calibration: CalibrationService
    search: SearchService
    live: LiveHub
    sender: Sender
    flow: LiveFlow
    governance: GovernanceService

    def close(self) -> None:
        """Write queued decisions, then release the index, the embedder and the database pool."""
        self.flow.stop()
        self.sender.close()
        self.matcher.close()
        self.decisions.close()
        self.store.close()
        self.embedder.close()
        self.engine.dispose()


def build_services(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
    engine: Engine | None = None,
    sender: Sender | None = None,
    index_held_elsewhere_ok: bool = False,
) -> Services:
    """Wire the service from settings; tests pass their own parts in.

    With `index_held_elsewhere_ok`, an embedded index that another process holds (a running
    service) does not stop a command that can leave its index work to that process: see
    `indexer/held_elsewhere.py` and `app/cli_services.py`.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model never reaches for a hub
    install_log_masking()  # from here on no log record carries a raw phone number or e-mail
    engine = engine or make_engine(settings.resolved_database_url)
    migrate(engine)
    embedder = embedder or build_embedder(
        settings.embedder,
        cache_path=settings.embedding_cache_path,
        onnx_dir=settings.onnx_dir,
        openai_api_key=settings.openai_api_key,
        openai_model=settings.openai_embedding_model,
    )
    store = store or build_store(
        url=settings.qdrant_url,
        api_key=settings.qdrant_api_key,
        path=settings.resolved_qdrant_path,
        dim=embedder.dim,
        held_elsewhere_ok=index_held_elsewhere_ok,
    )
    if isinstance(store, HeldElsewhereStore):
        store.serve_searches_from(SqlNeighbours(engine, embedder))
    loader = MemoryLoader(engine, embedder)
    memories = MemoryRegistry(loader)
    index_writer = IndexWriter(engine, store, embedder)
    learner = Learner(engine, embedder, memories, index_writer, max_chars=settings.max_text_chars)
    calibration = CalibrationService(
        engine, embedder, store, memories, settings, feedback=lambda tenant: calibration_rows(engine, tenant)
    )
    decisions = DecisionLog(engine)
    # The matcher batches concurrent matches itself, embedding included.
    matcher = Matcher(engine, unbatched(embedder), store, memories, settings, decisions)
    search = SearchService(engine, embedder, store, max_chars=settings.max_text_chars)
    live = LiveHub()
    sender = sender or build_sender(settings)
    flow = LiveFlow(
        engine,
        settings,
        matcher=matcher,
        learner=learner,
        decisions=decisions,
        memories=memories,
        sender=sender,
        hub=live,
    )
    return Services(
        settings=settings,
        engine=engine,
        embedder=embedder,
        store=store,
        memories=memories,
        index_writer=index_writer,
        learner=learner,
        matcher=matcher,
        decisions=decisions,
        calibration=calibration,
        search=search,
        live=live,
        sender=sender,
        flow=flow,
        governance=GovernanceService(
            engine, embedder, store, memories, loader, matcher, index_writer, k=settings.k
        ),
    )
