"""Dropping a tenant's memory when another process changed it (see `app/models/revisions.py`).

The service's upkeep loop calls `drop_changed_memories` every few seconds.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from app.learning.memory import MemoryRegistry
from app.models.revisions import current_revisions, own_revisions, prune_own

log = logging.getLogger(__name__)


def drop_changed_memories(engine: Engine, memories: MemoryRegistry) -> list[str]:
    """Drop each loaded memory whose tenant another process changed; returns those tenants.

    A memory whose revision moved only by this process's own commits is up to date (the
    writers here update it in step) and is kept: reloading a large tenant takes seconds.
    """
    loaded = {memory.tenant: memory for memory in memories.loaded()}
    dropped: list[str] = []
    committed_revisions = current_revisions(engine, loaded)
    for tenant, committed in committed_revisions.items():
        memory = loaded[tenant]
        if committed == memory.revision:
            continue
        own = {r for r in own_revisions(engine, tenant) if memory.revision < r <= committed}
        # A revision that went back (a database restored from a backup) is a change too.
        if committed < memory.revision or len(own) < committed - memory.revision:
            log.info("tenant %s was changed by another process: its memory is reloaded", tenant)
            memories.forget(tenant, only=memory)
            dropped.append(tenant)
        else:
            memory.revision = committed
    prune_own(engine, committed_revisions)
    return dropped
