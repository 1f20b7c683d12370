"""`pls purge`: mask raw customer text older than the retention period."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.config import get_settings


def purge(
    days: Annotated[
        int | None,
        typer.Option(help="Keep raw text this many days (default PLS_RAW_RETENTION_DAYS); 0 masks all."),
    ] = None,
) -> None:
    """Mask phone numbers, e-mails, cards and addresses in stored messages past the retention period."""
    from app.db import make_engine, migrate
    from app.retention import purge_raw

    if days is not None and days < 0:
        typer.echo("error: --days must be 0 or more", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        migrate(engine)
        result = purge_raw(engine, settings.raw_retention_days if days is None else days)
    finally:
        engine.dispose()
    typer.echo(
        json.dumps(
            {
                "messages": result.messages,
                "webhook_events": result.events,
                "cutoff": result.cutoff.isoformat(),
            }
        )
    )
