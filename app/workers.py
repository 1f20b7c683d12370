"""Background upkeep: load the tenants' memories on start, notice other processes' changes, retry
pending index writes, take up index requests (reindex, verify), refit calibration, keep the
search graph current."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future

from app.index_requests import IndexRequests
from app.learning.memory_watch import MemoryRefresher, tenants_to_warm
from app.retention import purge_raw
from app.services import Services

log = logging.getLogger(__name__)


class BackgroundWorkers:
    """One daemon thread; every step is safe to skip, so a crash in one never stops the next."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warm_thread: threading.Thread | None = None
        self._next_purge = 0.0  # monotonic time of the next retention purge
        self._optimizing: Future[bool] | None = None
        self.index_requests = IndexRequests(services)
        self.memory_refresher = MemoryRefresher(services.engine, services.memories)

    def start(self) -> None:
        """Start the loop and the loading of the tenants' memories (idempotent)."""
        if self._thread is None:
            self._start_warming()
            self._thread = threading.Thread(target=self._run, name="pls-upkeep", daemon=True)
            self._thread.start()

    def _start_warming(self) -> None:
        """Load every tenant's memory in a thread of its own, so no first match waits for it.

        The tenants are read here, before the service answers, so readiness reports the loading
        from the first probe on.
        """
        try:
            tenants = tenants_to_warm(self.services.engine)
        except Exception:
            log.exception("listing the tenants to load failed; each loads on first use")
            return
        memories = self.services.memories
        memories.begin_warming(len(tenants))
        self._warm_thread = threading.Thread(
            target=memories.warm, args=(tenants, self._stop.is_set), name="pls-warm", daemon=True
        )
        self._warm_thread.start()

    def stop(self) -> None:
        """Ask the loop to end and wait briefly for it."""
        self._stop.set()
        self.index_requests.stop()
        for thread in (self._warm_thread, self._thread):
            if thread is not None:
                thread.join(timeout=10)
        self._thread = self._warm_thread = None

    def run_once(self) -> None:
        """One round of upkeep (also what tests call directly)."""
        try:
            # First, so the rest of the round works on what other processes committed.
            self.memory_refresher.run_once()
        except Exception:
            log.exception("checking for changes by other processes failed")
        try:
            self.services.index_writer.flush_outbox()
        except Exception:
            log.exception("outbox flush failed")
        try:
            # A `pls reindex` or `pls index verify` run beside this service, which holds the
            # embedded index.
            self.index_requests.run_due()
        except Exception:
            log.exception("taking up an index request failed")
        try:
            self.services.calibration.refit_stale()
        except Exception:
            log.exception("calibration refit failed")
        try:
            self._keep_graph_current()
        except Exception:
            log.exception("search graph upkeep failed")
        if time.monotonic() >= self._next_purge:
            settings = self.services.settings
            self._next_purge = time.monotonic() + settings.purge_interval_s
            try:
                purge_raw(self.services.engine, settings.raw_retention_days)
            except Exception:
                log.exception("raw text purge failed")

    def _keep_graph_current(self) -> None:
        """Build the graph in the background once enough learned points wait outside it.

        Until then every search scans those points one by one; the build runs off-process
        and searches go on meanwhile, so the loop only starts it.
        """
        if self.index_requests.busy:  # the rebuild builds its own graph
            return
        previous = self._optimizing
        if previous is not None:
            if not previous.done():
                return
            if (error := previous.exception()) is not None:
                log.warning("search graph build failed: %s", error)
            self._optimizing = None
        if self.services.store.optimize_due():
            self._optimizing = self.services.store.optimize_in_background()

    def _run(self) -> None:
        while not self._stop.wait(self.services.settings.outbox_interval_s):
            self.run_once()
