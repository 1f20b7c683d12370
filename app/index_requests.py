"""`pls reindex` and `pls index verify` beside a running service: the command asks, the service
rebuilds or verifies.

The embedded index is open in one process at a time, so its rebuild or check has to run in the
process that holds it. The command writes an `IndexRequest`; the holder's upkeep loop claims it
(one claim wins, by a conditional update) and runs `reindex_all` or `verify_and_repair` in a
thread of its own, so matching goes on serving from the live index; the command follows the
request (and a rebuild's progress) in SQL and reports as if it had done the work itself.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, func, select

from app.config import Settings
from app.db import session_scope
from app.index_check import VerifyOptions, verify_and_repair
from app.models import Example, IndexRebuild, IndexRequest, utcnow
from app.reindex import reindex_all
from app.services import Services
from indexer.store import IndexBusy

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 5.0
REINDEX, VERIFY = "reindex", "verify"
RESUME = "`pls reindex` resumes it"
# How the command names the work a service does for it.
WORK = {REINDEX: "rebuild", VERIFY: "verification"}


def patience(settings: Settings) -> dict[str, float]:
    """How long a command waits for a service to claim its request, and then for a sign of life.

    The upkeep loop that claims the request, and then says it is still at it, runs every
    PLS_OUTBOX_INTERVAL_S; a round may also reload a large tenant, flush a long outbox or refit
    a calibration first.
    """
    interval = settings.outbox_interval_s
    return {"claim_timeout_s": 30 + 5 * interval, "silent_s": 120 + 10 * interval}


class NotDoneByHolder(RuntimeError):
    """The request failed in the service, or no service took it up."""


def request_reindex(engine: Engine, fresh: bool = False) -> int:
    """Ask whichever service holds the index to rebuild it; returns the request id."""
    return _request(engine, IndexRequest(kind=REINDEX, fresh=fresh))


def request_verify(engine: Engine, options: VerifyOptions) -> int:
    """Ask whichever service holds the index to verify it; returns the request id."""
    return _request(engine, IndexRequest(kind=VERIFY, options=json.dumps(options.as_dict())))


def _request(engine: Engine, request: IndexRequest) -> int:
    with session_scope(engine) as session:
        session.add(request)
        session.flush()
        return int(request.id or 0)


def claim_next(engine: Engine) -> IndexRequest | None:
    """Take the oldest waiting request for this process, or None if there is none."""
    with Session(engine) as session:
        waiting = session.exec(
            select(IndexRequest)
            .where(IndexRequest.status == "requested")
            .order_by(col(IndexRequest.id))
            .limit(1)
        ).first()
    if waiting is None:
        return None
    # Conditional, so of two services (or a command cancelling it) exactly one wins.
    now = utcnow()
    if _move(engine, int(waiting.id or 0), ["requested"], status="running", started_at=now, heartbeat_at=now):
        return waiting
    return None


def _move(engine: Engine, request_id: int, statuses: list[str], *when: Any, **values: object) -> bool:
    """Update the request only while it is in one of `statuses` (and `when` holds); True if it was.

    Every change of a request is made this way, so a command and a service racing to move the
    same request cannot both succeed.
    """
    with session_scope(engine) as session:
        moved = session.exec(  # type: ignore[call-overload]
            update(IndexRequest)
            .where(col(IndexRequest.id) == request_id, col(IndexRequest.status).in_(statuses), *when)
            .values(**values)
        )
        return bool(moved.rowcount == 1)


def cancel_unclaimed(engine: Engine, request_id: int) -> bool:
    """Withdraw a request no service has ever claimed; False if one took it meanwhile."""
    unclaimed = col(IndexRequest.heartbeat_at).is_(None)
    return _move(engine, request_id, ["requested"], unclaimed, status="cancelled", finished_at=utcnow())


def fail_if_silent(engine: Engine, request_id: int, silent_s: float, kind: str = REINDEX) -> bool:
    """Mark a request failed if the service that took it gave no sign of life for `silent_s`.

    That service may be working on it, or waiting to (it puts the request back each round
    while a graph build of its own is under way): either way each round marks it alive.
    """
    silent = col(IndexRequest.heartbeat_at) < utcnow() - timedelta(seconds=silent_s)
    error = _cut_short(kind, f"stopped answering during the {WORK[kind]} for {silent_s:.0f} s")
    return _move(
        engine,
        request_id,
        ["requested", "running"],
        silent,
        status="failed",
        error=error,
        finished_at=utcnow(),
    )


def _cut_short(kind: str, what_happened: str) -> str:
    """Why a request failed when its service went away, and for a rebuild, how to go on."""
    reason = f"the service {what_happened}"
    return f"{reason}: {RESUME}" if kind == REINDEX else reason


def _silent_for(request: IndexRequest, silent_s: float) -> bool:
    """Whether the row as read shows no sign of life for `silent_s` (then it is checked in SQL)."""
    beat = request.heartbeat_at
    if beat is None:
        return False
    if beat.tzinfo is None:  # SQLite gives back naive UTC
        beat = beat.replace(tzinfo=UTC)
    return beat < utcnow() - timedelta(seconds=silent_s)


def request_status(engine: Engine, request_id: int) -> IndexRequest:
    """The request as it stands now."""
    with Session(engine) as session:
        request = session.get(IndexRequest, request_id)
        if request is None:
            raise NotDoneByHolder(f"index request {request_id} is gone")
        return request


def _rebuilt_so_far(engine: Engine) -> tuple[int, int]:
    """Examples written by the rebuild under way (as of its last checkpoint), and all examples."""
    with Session(engine) as session:
        written = session.exec(
            select(IndexRebuild.written)
            .where(IndexRebuild.status == "running")
            .order_by(col(IndexRebuild.id).desc())
            .limit(1)
        ).first()
        total = session.exec(select(func.count()).select_from(Example)).one()
        return int(written or 0), int(total)


def reindex_through_holder(
    engine: Engine,
    fresh: bool,
    *,
    claim_timeout_s: float,
    silent_s: float,
    poll_s: float = 0.5,
    say: Callable[[str], None] = log.info,
) -> int:
    """Have the service holding the index rebuild it, wait for the end; returns examples written.

    Gives up when no service claims the request within `claim_timeout_s`, or when the one
    that did gives no sign of life for `silent_s`.
    """
    request_id = request_reindex(engine, fresh)
    say(f"the vector index is held by a running service: it rebuilds it (reindex request {request_id})")

    def progress() -> None:
        written, total = _rebuilt_so_far(engine)
        say(f"reindex: {written}/{total} examples written")

    done = _follow(engine, request_id, REINDEX, claim_timeout_s, silent_s, poll_s, say, progress)
    return done.written


def verify_through_holder(
    engine: Engine,
    options: VerifyOptions,
    *,
    claim_timeout_s: float,
    silent_s: float,
    poll_s: float = 0.5,
    say: Callable[[str], None] = log.info,
) -> dict[str, Any]:
    """Have the service holding the index verify it, wait for the end; returns its report
    (`VerifyReport.as_dict`)."""
    request_id = request_verify(engine, options)
    say(f"the vector index is held by a running service: it verifies it (index request {request_id})")
    done = _follow(engine, request_id, VERIFY, claim_timeout_s, silent_s, poll_s, say, None)
    return dict(json.loads(done.report or "{}"))


def _follow(
    engine: Engine,
    request_id: int,
    kind: str,
    claim_timeout_s: float,
    silent_s: float,
    poll_s: float,
    say: Callable[[str], None],
    progress: Callable[[], None] | None,
) -> IndexRequest:
    """Wait for the request to be done; the done request. Says `progress` every few seconds."""
    deadline = time.monotonic() + claim_timeout_s
    next_progress = time.monotonic() + PROGRESS_EVERY_S
    waiting_said = False
    while True:
        request = request_status(engine, request_id)
        if request.status == "done":
            return request
        if request.status == "failed":
            raise NotDoneByHolder(f"the service's {WORK[kind]} failed: {request.error}")
        if (
            request.status == "requested"
            and time.monotonic() > deadline
            and cancel_unclaimed(engine, request_id)
        ):
            raise NotDoneByHolder(
                f"no service took up the request within {claim_timeout_s:.0f} s; the process holding"
                " the index may not be a service (or it is stuck): try again once it is free"
            )
        if _silent_for(request, silent_s) and fail_if_silent(engine, request_id, silent_s, kind):
            continue  # reported as failed on the next read
        if request.status == "requested" and request.heartbeat_at is not None and not waiting_said:
            say("the service is finishing a search graph build first")
            waiting_said = True
        if request.status == "running" and progress is not None and time.monotonic() >= next_progress:
            progress()
            next_progress = time.monotonic() + PROGRESS_EVERY_S
        time.sleep(poll_s)


class IndexRequests:
    """The service's side: runs claimed requests one at a time, off the upkeep loop's thread."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._thread: threading.Thread | None = None
        self._request_id: int | None = None
        self._stopping = False

    @property
    def busy(self) -> bool:
        """Whether a rebuild or a verification is running here (the graph upkeep waits for it)."""
        return self._thread is not None and self._thread.is_alive()

    def run_due(self) -> None:
        """Start the oldest waiting request unless one is already running (then say it still is)."""
        if self.busy:
            if self._request_id is not None:
                _move(self.services.engine, self._request_id, ["running"], heartbeat_at=utcnow())
            return
        request = claim_next(self.services.engine)
        if request is None:
            return
        self._request_id = int(request.id or 0)
        self._thread = threading.Thread(
            target=self._run, args=(request,), name=f"pls-{request.kind}", daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the rebuild under way, if any."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """The service is shutting down: closing the index suspends a rebuild under way."""
        self._stopping = True

    def _run(self, request: IndexRequest) -> None:
        engine, request_id = self.services.engine, int(request.id or 0)
        log.info("index request %d: %s of the vector index", request_id, WORK[request.kind])
        try:
            done = self._work(request)
        except IndexBusy:  # a graph build is under way: the next upkeep round tries again
            _move(engine, request_id, ["running"], status="requested", started_at=None, heartbeat_at=utcnow())
            return
        except Exception as error:
            if self._stopping:
                reason = _cut_short(request.kind, f"stopped during the {WORK[request.kind]}")
            else:
                log.exception("index request %d failed", request_id)
                reason = str(error)[:500]
            _move(engine, request_id, ["running"], status="failed", error=reason, finished_at=utcnow())
            return
        _move(engine, request_id, ["running"], status="done", finished_at=utcnow(), **done)
        log.info("index request %d: %s done", request_id, WORK[request.kind])

    def _work(self, request: IndexRequest) -> dict[str, Any]:
        """Do what the request asks; the columns that say what came of it."""
        if request.kind == VERIFY:
            options = VerifyOptions(**json.loads(request.options or "{}"))  # written by `request_verify`
            report = verify_and_repair(self.services, options)
            return {"report": json.dumps(report.as_dict(), default=str)}
        if request.kind == REINDEX:
            return {"written": reindex_all(self.services, fresh=request.fresh, log_line=log.info)}
        raise ValueError(f"unknown index request kind {request.kind!r}")
