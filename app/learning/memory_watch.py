"""Bringing a tenant's memory up to date when another process changed it (see `app/models/revisions.py`).

The service's upkeep loop runs `MemoryRefresher.run_once` every few seconds. A changed memory is
loaded again beside the one in use and swapped in once complete, so matching goes on with the
state it has instead of waiting while a large tenant loads (seconds at 100,000 examples).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.errors import TenantNotFound
from app.learning.memory import MemoryRegistry, TenantMemory
from app.models.core import Tenant
from app.models.revisions import current_revisions, own_revisions, prune_own

log = logging.getLogger(__name__)

# After a reload that took t seconds, the tenant's next one waits at least this many times t:
# a long `pls import` beside the service changes the tenant every few seconds, and reloading
# back to back would keep a core busy with it.
REFRESH_SPACING = 4.0

# A reload is not installed when a write of this process may be missing from it. After this many
# such reloads in a row (this process writes the tenant without pause), the memory is dropped
# instead, so the other process's change reaches matching at the cost of one load waited for.
MAX_INCOMPLETE_RELOADS = 3


def tenants_to_warm(engine: Engine) -> list[str]:
    """Tenants that have learned anything, the most changed first (a proxy for the busiest)."""
    with Session(engine) as session:
        rows = session.exec(
            select(Tenant.id)
            .where(col(Tenant.memory_revision) > 0)
            .order_by(col(Tenant.memory_revision).desc())
        )
        return list(rows)


def changed_memories(engine: Engine, memories: MemoryRegistry) -> list[TenantMemory]:
    """The loaded memories whose tenant another process changed.

    A memory whose revision moved only by this process's own commits is up to date (the
    writers here update it in step): it just takes the new revision.
    """
    loaded = {memory.tenant: memory for memory in memories.loaded()}
    changed: list[TenantMemory] = []
    committed_revisions = current_revisions(engine, loaded)
    for tenant, committed in committed_revisions.items():
        memory = loaded[tenant]
        if committed == memory.revision:
            continue
        own = {r for r in own_revisions(engine, tenant) if memory.revision < r <= committed}
        # A revision that went back (a database restored from a backup) is a change too.
        if committed < memory.revision or len(own) < committed - memory.revision:
            changed.append(memory)
        else:
            memory.revision = committed
    prune_own(engine, committed_revisions)
    return changed


class MemoryRefresher:
    """Reloads changed memories beside the ones in use, each at most every few of its load times."""

    def __init__(
        self,
        engine: Engine,
        memories: MemoryRegistry,
        *,
        spacing: float = REFRESH_SPACING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.memories = memories
        self.spacing = spacing
        self.clock = clock
        self._due_at: dict[str, float] = {}
        self._incomplete: dict[str, int] = {}  # reloads in a row not installed for a missing own write

    def run_once(self) -> list[str]:
        """Refresh each memory another process changed, when due; returns those tenants."""
        refreshed: list[str] = []
        for memory in changed_memories(self.engine, self.memories):
            tenant = memory.tenant
            if self.clock() < self._due_at.get(tenant, 0.0):
                continue  # served as it is a little longer; a later round takes the change in
            log.info("tenant %s was changed by another process: its memory is reloaded", tenant)
            began = self.clock()
            try:
                fresh = self.memories.load(tenant)
            except TenantNotFound:
                self.memories.forget(tenant, only=memory)
            else:
                in_a_row = self._incomplete.get(tenant, 0) + 1
                outcome = self.memories.install(
                    tenant,
                    memory,
                    fresh,
                    self._complete,
                    drop_if_incomplete=in_a_row >= MAX_INCOMPLETE_RELOADS,
                )
                self._incomplete[tenant] = in_a_row if outcome == "incomplete" else 0
            finally:
                self._due_at[tenant] = self.clock() + self.spacing * (self.clock() - began)
            refreshed.append(tenant)
        return refreshed

    def _complete(self, fresh: TenantMemory) -> bool:
        """Whether `fresh` holds every commit this process made to its tenant.

        One committed after the load read the revision may be missing from it (the memory in
        use took it in step); such a memory is not installed, and a later round loads again.
        """
        return all(r <= fresh.revision for r in own_revisions(self.engine, fresh.tenant))
