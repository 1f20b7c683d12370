"""The service's parts for one CLI command, and what a command may do while a service runs.

The embedded index is open in one process at a time. A command that only learns or fits
(`learn`, `import`, `calibrate`, `discover`) runs beside a service holding it: it writes SQL
and the outbox, and the service indexes the examples in its upkeep loop and reloads the
tenant's memory; `reindex` asks the service to rebuild (`app/reindex_requests.py`). A
command that reads the index says in one line that it cannot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from app.config import get_settings
from indexer.store import IndexHeldElsewhere

if TYPE_CHECKING:
    from app.services import Services


def open_services(*, beside_index_holder: bool = False, learns: bool = True) -> Services:
    """Build the services; `beside_index_holder` lets a command run beside a service.

    `learns` says the command stores what it learns, which the service then indexes.
    """
    from app.services import build_services

    try:
        services = build_services(get_settings(), index_held_elsewhere_ok=beside_index_holder)
    except IndexHeldElsewhere as error:
        typer.echo(
            f"error: {error}. This command needs the index: use the running service's API or stop"
            " it first (with PLS_QDRANT_URL, processes share a Qdrant server instead)",
            err=True,
        )
        raise typer.Exit(1) from None
    if services.store.held_elsewhere and learns:
        typer.echo(
            "note: the vector index is open in another process, such as a running service: what is"
            " learned here is stored in SQL, and that process indexes it from the outbox",
            err=True,
        )
    return services
