"""The import loop shared by every format: resume, score, learn or void, record progress.

Records are processed in chunks. Each chunk is learned (its own transactions, idempotent by
message + reply), then the run's position is committed. A process killed between the two
re-reads at most one chunk on resume, and those records come back as duplicates: nothing is
learned twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session

from app.db import session_scope
from app.errors import InvalidInput
from app.importers.progress import Progress
from app.importers.records import Record, Turn
from app.importers.runs import MAX_ERRORS_KEPT, ImportSummary, open_run, save_progress
from app.importers.voided import store_voided
from app.learning.learner import Interaction
from app.learning.quality import Quality, score_interaction
from app.learning.refiling import regroup_after_import
from app.models import Example
from app.services import Services
from app.tenants import require_tenant

log = logging.getLogger(__name__)

CHUNK = 256

ErrorSink = Callable[[str, str], None]


def run_import(
    services: Services,
    *,
    tenant: str,
    kind: str,
    path: str,
    fingerprint: str,
    records: Iterable[Record],
    total: int,
    progress: Callable[[str, int | None, int], Progress] | None = None,
    on_error: ErrorSink | None = None,
    finish: bool = True,
    discover: bool = True,
    chunk: int = CHUNK,
) -> ImportSummary:
    """Import `records` for `tenant`, resuming an unfinished run of the same file.

    With `finish`, patterns are consolidated, calibration is refitted and the search graph is
    built if enough points wait for it; with `discover` too, candidate patterns are discovered
    from everything learned.
    """
    with Session(services.engine) as session:
        require_tenant(session, tenant)
    run = open_run(services.engine, tenant, kind, path, fingerprint, total)
    assert run.id is not None
    summary = ImportSummary.from_run(run) if run.position else ImportSummary(run_id=run.id)
    if run.position:
        log.info("resuming import run %d after record %d", run.id, run.position)
    bar = progress(f"import {kind}", total, run.position) if progress else None
    position = run.position
    batch: list[Record] = []
    try:
        for record in records:
            if record.position <= run.position:
                continue
            batch.append(record)
            if len(batch) >= chunk:
                _process(services, tenant, kind, batch, summary, on_error)
                save_progress(services.engine, run.id, batch[-1].position, summary)
                if bar:
                    bar.advance(batch[-1].position - position)
                position = batch[-1].position
                batch = []
        if batch:
            _process(services, tenant, kind, batch, summary, on_error)
            if bar:
                bar.advance(batch[-1].position - position)
            position = batch[-1].position
        save_progress(services.engine, run.id, position, summary, done=True)
    finally:
        if bar:
            bar.close()
    if finish:
        services.learner.consolidate(tenant)
        refiled = regroup_after_import(services, tenant)
        if refiled.moved:
            summary.regrouped = refiled.totals()
        summary.calibration = services.calibration.fit(tenant)
        # A bulk load leaves its points outside the search graph; build it before serving.
        services.store.optimize_if_due()
        if discover:
            from app.learning.discovery import discover_and_store

            summary.candidates = len(discover_and_store(services, tenant))
    return summary


def _process(
    services: Services,
    tenant: str,
    kind: str,
    batch: list[Record],
    summary: ImportSummary,
    on_error: ErrorSink | None,
) -> None:
    threshold = services.settings.void_below
    active: list[tuple[Interaction, Turn]] = []
    voided: list[tuple[Interaction, Turn, Quality]] = []
    for record in batch:
        summary.read += 1
        if record.skipped is not None:
            summary.skipped += 1
            continue
        if record.error is not None or record.turn is None:
            _error(summary, record.location, record.error or "nothing to learn", on_error)
            continue
        turn = record.turn
        try:
            interaction = services.learner.validate(Interaction(turn.text, turn.reply, turn.context))
        except InvalidInput as error:
            _error(summary, record.location, f"field '{error.field}' {error.message}", on_error)
            continue
        quality = score_interaction(
            interaction.text, interaction.reply, followups=turn.followups, resolved=turn.resolved
        )
        interaction = replace(interaction, quality=quality.score)
        if quality.voided(threshold):
            voided.append((interaction, turn, quality))
        else:
            active.append((interaction, turn))
    source = f"import:{kind}"
    if active:
        learned = services.learner.learn_many(
            tenant, [i for i, _ in active], source=source, chunk_size=len(active)
        )
        stamps: dict[int, datetime] = {}
        for result, (_, turn) in zip(learned.results, active, strict=True):
            if result.duplicate:
                summary.duplicates += 1
                continue
            summary.learned += 1
            if turn.occurred_at is not None:
                stamps[result.example_id] = turn.occurred_at
        _stamp(services, stamps)
    if voided:
        stored = store_voided(services, tenant, voided, source)
        for is_new, (_, _, quality) in zip(stored, voided, strict=True):
            if is_new:
                summary.voided += 1
                summary.void_reasons.update(quality.reasons)
            else:
                summary.duplicates += 1


def _stamp(services: Services, stamps: dict[int, datetime]) -> None:
    """Keep the time each imported message was sent (per-day frequencies need it)."""
    if not stamps:
        return
    with session_scope(services.engine) as session:
        session.execute(
            update(Example), [{"id": example_id, "occurred_at": at} for example_id, at in stamps.items()]
        )


def _error(summary: ImportSummary, location: str, message: str, on_error: ErrorSink | None) -> None:
    summary.error_count += 1
    if len(summary.errors) < MAX_ERRORS_KEPT:
        summary.errors.append(f"{location}: {message}")
    if on_error is not None:
        on_error(location, message)
