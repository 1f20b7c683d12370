"""The service's parts for one CLI command, and what a command may do while a service runs.

The embedded index is open in one process at a time. Most commands still run beside a service
holding it: what they learn goes to SQL and the outbox, and the service indexes it in its
upkeep loop and reloads the tenant's memory; their searches (`match`, `search`, a
calibration's neighbours, a dry run's replayed decisions) are exact searches over the examples
in SQL (`indexer/held_elsewhere.py`); `reindex` and `index verify` ask the service to rebuild
or to verify the index (`app/index_requests.py`). A command that inspects or needs the index
itself in any other way says in one line that it cannot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from app.config import get_settings
from indexer.store import IndexHeldElsewhere

if TYPE_CHECKING:
    from app.services import Services


def open_services(*, needs_the_index: bool = False, note: bool = True) -> Services:
    """Build the services for a command; one that `needs_the_index` cannot run beside a service.

    With `note`, a command that does run beside one says so on stderr.
    """
    from app.services import build_services

    try:
        services = build_services(get_settings(), index_held_elsewhere_ok=not needs_the_index)
    except IndexHeldElsewhere as error:
        typer.echo(
            f"error: {error}. This command needs the index: use the running service's API or stop"
            " it first (with PLS_QDRANT_URL, processes share a Qdrant server instead)",
            err=True,
        )
        raise typer.Exit(1) from None
    if services.store.held_elsewhere and note:
        typer.echo(
            "note: the vector index is open in another process, such as a running service: it"
            " indexes what is learned here, and searches here are exact, over the examples in SQL",
            err=True,
        )
    return services
