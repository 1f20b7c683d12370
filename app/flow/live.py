"""The live feed: decisions pushed to every console watching a tenant.

Decisions are made on worker threads while WebSockets live on the event loop, so publishing
hands each event to the subscriber's loop. A slow console loses its oldest events rather than
holding up the worker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000


@dataclass(eq=False)
class Subscription:
    """One console's stream of events for one tenant."""

    tenant: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: int = 0

    def offer(self, event: dict[str, Any]) -> None:
        """Called on the loop: enqueue, dropping the oldest event when full."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)


class LiveHub:
    """Per-tenant fan-out of events to subscribers on any thread."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}
        self._lock = threading.Lock()

    def subscribe(self, tenant: str) -> Subscription:
        """Start receiving a tenant's events (call from the subscriber's event loop)."""
        sub = Subscription(tenant, asyncio.get_running_loop())
        with self._lock:
            self._subs.setdefault(tenant, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop a subscription (idempotent)."""
        with self._lock:
            subs = self._subs.get(sub.tenant)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    self._subs.pop(sub.tenant, None)

    def subscribers(self, tenant: str) -> int:
        """How many consoles watch a tenant."""
        with self._lock:
            return len(self._subs.get(tenant, ()))

    def publish(self, tenant: str, event: dict[str, Any]) -> None:
        """Send an event to the tenant's subscribers only; safe from any thread."""
        with self._lock:
            subs = list(self._subs.get(tenant, ()))
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:  # the loop has closed: the console is gone
                self.unsubscribe(sub)
