"""Index requests: how a `pls reindex` or `pls index verify` beside a running service is claimed,
run and reported."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.index_check import VerifyOptions
from app.index_requests import (
    IndexRequests,
    NotDoneByHolder,
    cancel_unclaimed,
    claim_next,
    fail_if_silent,
    reindex_through_holder,
    request_reindex,
    request_status,
    request_verify,
    verify_through_holder,
)
from app.learning.learner import Interaction
from app.models import IndexRequest
from app.services import build_services
from indexer import EdgeStore, IndexBusy
from tests.conftest import FakeEmbedder


@contextmanager
def upkeep_loop(requests: IndexRequests, every: float = 0.01) -> Iterator[None]:
    """The service's loop, taking up requests every `every` seconds while the block runs."""
    stop = threading.Event()

    def upkeep() -> None:
        while not stop.wait(every):
            requests.run_due()
            requests.wait(60)

    loop = threading.Thread(target=upkeep, daemon=True)
    loop.start()
    try:
        yield
    finally:
        stop.set()
        loop.join()


def test_one_claim_wins_and_requests_are_taken_oldest_first(engine: Engine) -> None:
    first, second = request_reindex(engine), request_reindex(engine, fresh=True)
    claimed = claim_next(engine)
    assert claimed is not None and claimed.id == first and not claimed.fresh
    again = claim_next(engine)
    assert again is not None and again.id == second and again.fresh
    assert claim_next(engine) is None
    assert {request_status(engine, i).status for i in (first, second)} == {"running"}


def test_a_request_nobody_takes_is_withdrawn(engine: Engine) -> None:
    with pytest.raises(NotDoneByHolder, match="no service took up the request"):
        reindex_through_holder(
            engine, False, claim_timeout_s=0.2, silent_s=60, poll_s=0.02, say=lambda _: None
        )
    with Session(engine) as session:
        (request,) = session.exec(select(IndexRequest)).all()
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
    requests = IndexRequests(services)
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
    requests = IndexRequests(services)
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
    said: list[str] = []
    with upkeep_loop(IndexRequests(services), every=0.05):
        written = reindex_through_holder(
            services.engine, False, claim_timeout_s=0.5, silent_s=60, poll_s=0.01, say=said.append
        )
    assert written == 2 and busy_rounds == [0]
    assert any("graph build" in line for line in said)


def test_a_failed_rebuild_reaches_the_command(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*args: object, **kwargs: object) -> int:
        raise OSError("No space left on device")

    monkeypatch.setattr("app.index_requests.reindex_all", broken)
    failed = pytest.raises(NotDoneByHolder, match="rebuild failed: No space left on device")
    with upkeep_loop(IndexRequests(services)), failed:
        reindex_through_holder(
            services.engine, False, claim_timeout_s=30, silent_s=60, poll_s=0.01, say=lambda _: None
        )


def test_a_rebuild_cut_short_by_shutdown_says_how_to_resume(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    requests = IndexRequests(services)

    def interrupted(*args: object, **kwargs: object) -> int:
        requests.stop()  # the service shuts down; closing the index suspends the rebuild
        raise RuntimeError("rebuild already committed or aborted")

    monkeypatch.setattr("app.index_requests.reindex_all", interrupted)
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
    with pytest.raises(NotDoneByHolder, match="stopped answering during the rebuild"):
        reindex_through_holder(
            engine, False, claim_timeout_s=30, silent_s=0.3, poll_s=0.02, say=lambda _: None
        )
    claimer.join()


def test_the_service_says_it_is_still_rebuilding_every_round(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    def slow(*args: object, **kwargs: object) -> int:
        release.wait(30)
        return 2

    monkeypatch.setattr("app.index_requests.reindex_all", slow)
    request_id = request_reindex(services.engine)
    requests = IndexRequests(services)
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


def test_the_service_verifies_the_index_and_reports_what_it_found(services) -> None:  # type: ignore[no-untyped-def]
    lost = sorted(services.store.example_ids("default"))[0]
    services.store.delete([lost])
    requests = IndexRequests(services)
    request_id = request_verify(services.engine, VerifyOptions(sample=10))
    requests.run_due()
    requests.wait(60)
    request = request_status(services.engine, request_id)
    assert request.status == "done" and request.kind == "verify"
    report = json.loads(request.report or "{}")
    assert (report["ok"], report["missing"], report["sql_count"]) == (False, [lost], 2)

    request_id = request_verify(services.engine, VerifyOptions(sample=10, payloads="all", repair=True))
    requests.run_due()
    requests.wait(60)
    report = json.loads(request_status(services.engine, request_id).report or "{}")
    assert report["ok"] and report["repaired"] == {"upserted": 1, "deleted": 0}
    assert report["payloads_checked"] == 2
    assert lost in services.store.example_ids("default")


def test_a_failed_verification_reaches_the_command(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("index files unreadable")

    monkeypatch.setattr("app.index_requests.verify_and_repair", broken)
    failed = pytest.raises(NotDoneByHolder, match="verification failed: index files unreadable")
    with upkeep_loop(IndexRequests(services)), failed:
        verify_through_holder(
            services.engine,
            VerifyOptions(),
            claim_timeout_s=30,
            silent_s=60,
            poll_s=0.01,
            say=lambda _: None,
        )
