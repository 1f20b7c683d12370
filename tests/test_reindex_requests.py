"""Reindex requests: how a `pls reindex` beside a running service is claimed, run and reported."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.learning.learner import Interaction
from app.models import ReindexRequest
from app.reindex_requests import (
    ReindexNotDone,
    ReindexRequests,
    cancel_unclaimed,
    claim_next,
    fail_if_silent,
    reindex_through_holder,
    request_reindex,
    request_status,
)
from app.services import build_services
from indexer import EdgeStore, IndexBusy
from tests.conftest import FakeEmbedder


def test_one_claim_wins_and_requests_are_taken_oldest_first(engine: Engine) -> None:
    first, second = request_reindex(engine), request_reindex(engine, fresh=True)
    claimed = claim_next(engine)
    assert claimed is not None and claimed.id == first and not claimed.fresh
    again = claim_next(engine)
    assert again is not None and again.id == second and again.fresh
    assert claim_next(engine) is None
    assert {request_status(engine, i).status for i in (first, second)} == {"running"}


def test_a_request_nobody_takes_is_withdrawn(engine: Engine) -> None:
    with pytest.raises(ReindexNotDone, match="no service took up the request"):
        reindex_through_holder(
            engine, False, claim_timeout_s=0.2, silent_s=60, poll_s=0.02, say=lambda _: None
        )
    with Session(engine) as session:
        (request,) = session.exec(select(ReindexRequest)).all()
    assert request.status == "cancelled" and request.finished_at is not None
    assert claim_next(engine) is None


@pytest.fixture
def services(settings: Settings, engine: Engine, tmp_path: Path, fake_embedder: FakeEmbedder):  # type: ignore[no-untyped-def]
    services = build_services(
        settings,
        embedder=fake_embedder,
        store=EdgeStore(tmp_path / "index", dim=fake_embedder.dim),
        engine=engine,
    )
    services.learner.learn("default", Interaction("what time do you open", "We open at 9am."))
    services.learner.learn("default", Interaction("where do I park", "Park behind the building."))
    yield services
    services.close()


def test_the_service_runs_a_request_and_reports_what_it_wrote(services) -> None:  # type: ignore[no-untyped-def]
    before = services.store.generation
    request_id = request_reindex(services.engine)
    requests = ReindexRequests(services)
    requests.run_due()
    requests.wait(60)
    request = request_status(services.engine, request_id)
    assert (request.status, request.written) == ("done", 2) and request.finished_at is not None
    assert services.store.generation != before and services.store.count("default") == 2


def test_a_busy_index_puts_the_request_back_for_the_next_round(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def busy(resume: str | None = None) -> None:
        raise IndexBusy("a rebuild or optimize is already running")

    monkeypatch.setattr(services.store, "begin_rebuild", busy)
    request_id = request_reindex(services.engine)
    requests = ReindexRequests(services)
    requests.run_due()
    requests.wait(60)
    request = request_status(services.engine, request_id)
    assert request.status == "requested" and request.heartbeat_at is not None
    assert not cancel_unclaimed(services.engine, request_id)  # a service has it in hand


def test_the_command_waits_while_the_service_finishes_a_graph_build(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real_begin = services.store.begin_rebuild
    busy_rounds = [20]  # about 1 s of rounds: well past the command's claim deadline

    def busy_at_first(resume: str | None = None):  # type: ignore[no-untyped-def]
        if busy_rounds[0] > 0:
            busy_rounds[0] -= 1
            raise IndexBusy("a rebuild or optimize is already running")
        return real_begin(resume=resume)

    monkeypatch.setattr(services.store, "begin_rebuild", busy_at_first)
    requests = ReindexRequests(services)
    stop = threading.Event()

    def upkeep() -> None:
        while not stop.wait(0.05):
            requests.run_due()
            requests.wait(60)

    loop = threading.Thread(target=upkeep, daemon=True)
    loop.start()
    said: list[str] = []
    try:
        written = reindex_through_holder(
            services.engine, False, claim_timeout_s=0.5, silent_s=60, poll_s=0.01, say=said.append
        )
    finally:
        stop.set()
        loop.join()
    assert written == 2 and busy_rounds == [0]
    assert any("graph build" in line for line in said)


def test_a_failed_rebuild_reaches_the_command(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*args: object, **kwargs: object) -> int:
        raise OSError("No space left on device")

    monkeypatch.setattr("app.reindex_requests.reindex_all", broken)
    requests = ReindexRequests(services)
    stop = threading.Event()

    def upkeep() -> None:  # the service's loop
        while not stop.wait(0.01):
            requests.run_due()
            requests.wait(60)

    loop = threading.Thread(target=upkeep, daemon=True)
    loop.start()
    try:
        with pytest.raises(ReindexNotDone, match="rebuild failed: No space left on device"):
            reindex_through_holder(
                services.engine, False, claim_timeout_s=30, silent_s=60, poll_s=0.01, say=lambda _: None
            )
    finally:
        stop.set()
        loop.join()


def test_a_rebuild_cut_short_by_shutdown_says_how_to_resume(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    requests = ReindexRequests(services)

    def interrupted(*args: object, **kwargs: object) -> int:
        requests.stop()  # the service shuts down; closing the index suspends the rebuild
        raise RuntimeError("rebuild already committed or aborted")

    monkeypatch.setattr("app.reindex_requests.reindex_all", interrupted)
    request_id = request_reindex(services.engine)
    requests.run_due()
    requests.wait(60)
    request = request_status(services.engine, request_id)
    assert request.status == "failed" and "`pls reindex` resumes it" in (request.error or "")


def test_a_service_that_dies_mid_rebuild_does_not_keep_the_command_waiting(engine: Engine) -> None:
    def claimed_then_silent() -> None:  # a service claims the request, then is killed
        while claim_next(engine) is None:
            time.sleep(0.01)

    claimer = threading.Thread(target=claimed_then_silent, daemon=True)
    claimer.start()
    with pytest.raises(ReindexNotDone, match="stopped answering during the rebuild"):
        reindex_through_holder(
            engine, False, claim_timeout_s=30, silent_s=0.3, poll_s=0.02, say=lambda _: None
        )
    claimer.join()


def test_the_service_says_it_is_still_rebuilding_every_round(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    def slow(*args: object, **kwargs: object) -> int:
        release.wait(30)
        return 2

    monkeypatch.setattr("app.reindex_requests.reindex_all", slow)
    request_id = request_reindex(services.engine)
    requests = ReindexRequests(services)
    requests.run_due()  # claims and starts
    first = request_status(services.engine, request_id).heartbeat_at
    time.sleep(0.05)
    requests.run_due()  # a later round while it runs
    later = request_status(services.engine, request_id).heartbeat_at
    assert first is not None and later is not None and later > first
    assert not fail_if_silent(services.engine, request_id, silent_s=60)
    release.set()
    requests.wait(60)
    assert request_status(services.engine, request_id).status == "done"
