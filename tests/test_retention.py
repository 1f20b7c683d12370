"""Raw-text retention: old messages and webhook payloads are masked, recent ones kept; `pls purge`."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from app.db import session_scope
from app.models import Message, Tenant, WebhookEvent, utcnow
from app.retention import purge_raw

RAW = "call me on 555-123-4567 or sam@example.com, code 4512"
MASKED = "call me on <phone> or <email>, code 4512"


def seed(engine: Engine, days_old: float, state: str | None = "decided") -> int:
    at = utcnow() - timedelta(days=days_old)
    with session_scope(engine) as session:
        if session.get(Tenant, "default") is None:
            session.add(Tenant(id="default", name="Default"))
            session.flush()
        message = Message(
            tenant="default", direction="incoming", text=RAW, text_hash="h", created_at=at, state=state
        )
        session.add(message)
        session.flush()
        session.add(
            WebhookEvent(
                event_id=f"EV{message.id}",
                event_type="message.received",
                tenant="default",
                status="accepted",
                message_id=message.id,
                payload={"data": {"object": {"from": "+15557654321", "body": RAW}}},
                received_at=at,
            )
        )
        assert message.id is not None
        return message.id


def test_purge_masks_raw_text_past_retention_and_keeps_the_rest(engine: Engine) -> None:
    old, recent, unfinished = seed(engine, 40), seed(engine, 5), seed(engine, 40, state="pending")
    result = purge_raw(engine, retention_days=30)
    assert (result.messages, result.events) == (1, 2)
    with Session(engine) as session:
        texts = {m.id: m.text for m in session.exec(select(Message)).all()}
        events = {e.message_id: e.payload for e in session.exec(select(WebhookEvent)).all()}
        redacted = session.get(Message, old)
    assert texts == {old: MASKED, recent: RAW, unfinished: RAW}
    assert redacted is not None and redacted.redacted_at is not None
    assert events[old] == {"data": {"object": {"from": "<phone>", "body": MASKED}}}
    assert events[recent]["data"]["object"]["body"] == RAW
    assert purge_raw(engine, retention_days=30).messages == 0  # each row is visited once


def test_pls_purge_command(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import cli
    from app.config import get_settings

    seed(engine, 3)
    monkeypatch.setenv("PLS_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        kept = runner.invoke(cli, ["purge"])
        assert kept.exit_code == 0, kept.output
        assert '"messages": 0' in kept.output
        purged = runner.invoke(cli, ["purge", "--days", "0"])
        assert purged.exit_code == 0 and '"messages": 1' in purged.output
        assert runner.invoke(cli, ["purge", "--days", "-1"]).exit_code == 2
    finally:
        get_settings.cache_clear()
    with Session(engine) as session:
        assert session.exec(select(Message)).one().text == MASKED


def test_background_workers_run_the_purge(settings, tmp_path, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    from app.services import build_services
    from app.workers import BackgroundWorkers
    from indexer.edge import EdgeStore

    services = build_services(
        settings, embedder=fake_embedder, store=EdgeStore(tmp_path / "q", dim=fake_embedder.dim)
    )
    try:
        message_id = seed(services.engine, settings.raw_retention_days + 1)
        BackgroundWorkers(services).run_once()
        with Session(services.engine) as session:
            message = session.get(Message, message_id)
            assert message is not None and message.text == MASKED
    finally:
        services.close()


def test_background_workers_build_the_search_graph_once_it_is_due(settings, tmp_path, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    from app.services import build_services
    from app.workers import BackgroundWorkers
    from indexer import EdgeTuning, IndexPoint, optimize_in_process
    from indexer.edge import EdgeStore

    tuning = EdgeTuning(indexing_threshold_kb=10, full_scan_threshold_kb=10, payload_m=8, ef_construct=32)
    store = EdgeStore(tmp_path / "q", dim=fake_embedder.dim, tuning=tuning, optimizer=optimize_in_process)
    services = build_services(settings, embedder=fake_embedder, store=store)
    try:
        vectors = np.random.default_rng(0).standard_normal((400, fake_embedder.dim)).astype(np.float32)
        store.upsert([IndexPoint(i, 1, "default", "active", v) for i, v in enumerate(vectors)])
        assert store.optimize_due()
        workers = BackgroundWorkers(services)
        workers.run_once()
        assert workers._optimizing is not None and workers._optimizing.result(timeout=60) is True
        assert store.unindexed_points() == 0
        workers.run_once()  # nothing waits: no second build
        assert workers._optimizing is None
    finally:
        services.close()
