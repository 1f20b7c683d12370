"""Recording decisions off the hot path: ids are issued at once, rows are written in batches.

A decision is a derived record (the message itself is stored before matching), so it may
reach SQL a moment after the answer; batching keeps a commit off every match.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from datetime import datetime

from sqlalchemy import Engine, bindparam, insert, update

from app.db import session_scope
from app.models import Decision, Pattern, utcnow

log = logging.getLogger(__name__)

_decisions = Decision.__table__  # type: ignore[attr-defined]
_patterns = Pattern.__table__  # type: ignore[attr-defined]
# One statement for every matched pattern of a flush, run as one executemany: building an
# ORM update per pattern cost more interpreter time than the rest of the flush.
_COUNT_MATCHES = (
    update(_patterns)
    .where(_patterns.c.id == bindparam("pattern"))
    .values(match_count=_patterns.c.match_count + bindparam("matched"), last_matched_at=bindparam("at"))
)


class DecisionLog:
    """Buffers Decision rows and writes them every `interval_s` or `batch_size` rows."""

    def __init__(
        self, engine: Engine, interval_s: float = 0.2, batch_size: int = 200, max_buffer: int = 50_000
    ):
        self.engine = engine
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.max_buffer = max_buffer
        self._rows: list[dict] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pls-decisions", daemon=True)
        self._thread.start()

    def record(self, **fields: object) -> str:
        """Queue a decision; returns its id at once."""
        # 128 random bits in hex, as uuid4().hex gives, without building a UUID object: right
        # after a model run that costs 25 us against 5 us, on every match.
        decision_id = os.urandom(16).hex()
        row = {"id": decision_id, "created_at": utcnow(), **fields}
        with self._lock:
            if len(self._rows) >= self.max_buffer:  # the database is unreachable for a long time
                log.error("decision buffer full; dropping the oldest decision")
                self._rows.pop(0)
            self._rows.append(row)
            if len(self._rows) >= self.batch_size:
                self._wake.set()
        return decision_id

    def flush(self) -> int:
        """Write every queued decision now; returns how many were written."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                self._write(rows)
            except Exception:
                log.exception("writing %d decisions failed; will retry", len(rows))
                with self._lock:
                    self._rows[:0] = rows
                return 0
            return len(rows)

    def close(self) -> None:
        """Stop the writer after a final flush."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self.flush()

    def _write(self, rows: list[dict]) -> None:
        matched = Counter(
            row["pattern_id"]
            for row in rows
            if row.get("pattern_id") is not None and row.get("action") != "abstain"
        )
        last: dict[int, datetime] = {}
        for row in rows:
            if row.get("pattern_id") in matched:
                last[row["pattern_id"]] = row["created_at"]
        counts = [
            {"pattern": pattern_id, "matched": count, "at": last[pattern_id]}
            for pattern_id, count in matched.items()
        ]
        with session_scope(self.engine) as session:
            session.execute(insert(_decisions), rows)
            if counts:
                session.execute(_COUNT_MATCHES, counts)
