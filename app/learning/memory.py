"""What the service keeps in memory per tenant: pattern statistics, the grouper, the model.

Everything here is derived from SQL and rebuilt from it on start; it exists so a match or a
learn never scans tables on the hot path.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from app.learning.grouping import PatternGrouper
from app.learning.model import ConfidenceModel
from app.learning.scoring import PatternStats

log = logging.getLogger(__name__)

LOAD_STRIPES = 64


@dataclass
class PatternState:
    """Running statistics of one pattern, updated as examples and feedback arrive."""

    pattern_id: int
    status: str
    mode: str
    response_text: str
    support: int = 0
    quality_sum: float = 0.0
    alpha: float = 1.0
    beta: float = 1.0
    # A person's auto threshold for this pattern, in place of the calibrated one.
    threshold_override: float | None = None
    centroid_sum: np.ndarray | None = field(default=None, repr=False)

    _stats: PatternStats | None = field(default=None, repr=False)

    def add_example(self, vector: np.ndarray, quality: float) -> None:
        """Account for one more active example."""
        self.add_examples(vector, 1, quality)

    def add_examples(self, vector_sum: np.ndarray | None, count: int, quality_sum: float) -> None:
        """Account for `count` more active examples at once (their vectors and qualities summed)."""
        self.support += count
        self.quality_sum += quality_sum
        if vector_sum is not None:
            vector_sum = np.asarray(vector_sum, dtype=np.float64)
            self.centroid_sum = (
                vector_sum.copy() if self.centroid_sum is None else self.centroid_sum + vector_sum
            )
        self._stats = None

    def absorb(self, other: PatternState) -> None:
        """Take over the examples of a pattern merged into this one."""
        self.add_examples(other.centroid_sum, other.support, other.quality_sum)

    def set_posterior(self, alpha: float, beta: float) -> None:
        """Take a feedback posterior moved by an operator's verdict."""
        self.alpha, self.beta = alpha, beta
        self._stats = None

    def stats(self) -> PatternStats:
        """The view the scorer needs (cached until the pattern changes)."""
        if self._stats is None:
            self._stats = PatternStats(
                support=self.support,
                mean_quality=self.quality_sum / self.support if self.support else 1.0,
                alpha=self.alpha,
                beta=self.beta,
                # The scorer uses only the direction, so the raw sum is enough.
                centroid=None if self.centroid_sum is None else self.centroid_sum.astype(np.float32),
            )
        return self._stats


@dataclass
class TenantMemory:
    """One tenant's learned state; `lock` serialises learning so patterns are assigned once."""

    tenant: str
    grouper: PatternGrouper
    patterns: dict[int, PatternState] = field(default_factory=dict)
    model: ConfidenceModel | None = None  # set once calibration has been fitted
    learned_since_fit: int = 0
    # The tenant's memory revision this state reflects (app/models/revisions.py).
    revision: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)


class MemoryRegistry:
    """Lazily loads and caches each tenant's memory.

    Tenants load independently: a large tenant's first load (seconds at 100,000 examples) holds
    up only matches of that tenant. A load takes the tenant's epoch when it starts and is kept
    only if no write was settled on a dropped memory, and nothing forgotten, while it read.
    """

    def __init__(self, loader: Callable[[str], TenantMemory]) -> None:
        self._loader = loader
        self._memories: dict[str, TenantMemory] = {}
        self._lock = threading.Lock()  # guards the state below, never held while loading
        # One load of a tenant at a time. Striped rather than one lock per tenant, so names of
        # tenants that do not exist leave nothing behind; two tenants may share a stripe.
        self._loading = [threading.Lock() for _ in range(LOAD_STRIPES)]
        self._epochs: dict[str, int] = {}
        self._epoch_all = 0  # moved by forgetting every tenant
        self._warming: tuple[int, int] | None = None  # (loaded, total) while `warm` runs

    def get(self, tenant: str) -> TenantMemory:
        """The tenant's memory, loaded from SQL on first use."""
        memory = self._memories.get(tenant)
        if memory is not None:
            return memory
        with self._loading[zlib.crc32(tenant.encode()) % LOAD_STRIPES]:
            while True:
                with self._lock:
                    memory = self._memories.get(tenant)
                    if memory is not None:
                        return memory  # loaded by the caller this one waited for
                    epoch = self._epoch(tenant)
                memory = self._loader(tenant)
                with self._lock:
                    if self._epoch(tenant) == epoch:
                        self._memories[tenant] = memory
                        return memory
                # A write was settled while this load read; it may predate the write: read again.

    def begin_warming(self, total: int) -> None:
        """Report (0, total) from `warming` until `warm` has run."""
        with self._lock:
            self._warming = (0, total)

    def _epoch(self, tenant: str) -> tuple[int, int]:
        """What a load of the tenant must find unchanged to be kept (under the lock)."""
        return self._epoch_all, self._epochs.get(tenant, 0)

    def warm(self, tenants: list[str], stopped: Callable[[], bool] = lambda: False) -> None:
        """Load these tenants' memories now (on start-up), so their first matches do not wait."""
        self.begin_warming(len(tenants))
        try:
            for done, tenant in enumerate(tenants, start=1):
                if stopped():
                    return
                try:
                    self.get(tenant)
                except Exception:
                    # It loads on first use instead, where its error reaches the caller.
                    log.exception("loading the memory of tenant %s failed", tenant)
                with self._lock:
                    self._warming = (done, len(tenants))
        finally:
            with self._lock:
                self._warming = None

    def warming(self) -> tuple[int, int] | None:
        """(loaded, total) while `warm` runs, else None."""
        return self._warming

    def load(self, tenant: str) -> TenantMemory:
        """A fresh memory of the tenant from SQL, loaded beside the one in use (not installed)."""
        return self._loader(tenant)

    def install(
        self,
        tenant: str,
        old: TenantMemory,
        new: TenantMemory,
        complete: Callable[[TenantMemory], bool],
        *,
        drop_if_incomplete: bool = False,
    ) -> Literal["installed", "replaced", "incomplete"]:
        """Put `new` in place of `old`, if `old` is still the tenant's memory ("replaced": it was
        not, and `new` is let go).

        `complete(new)` is asked under the registry's lock, which `settle` takes too: a write of this
        process committed before the swap is either seen by it or settled on `old` afterwards
        (which drops `new`). When `new` is not complete, `old` stays: it took this process's
        writes in step, and lacks only the other process's change, until a later load. With
        `drop_if_incomplete`, `old` is dropped instead and the next use loads the tenant.
        """
        with self._lock:
            if self._memories.get(tenant) is not old:
                return "replaced"
            if not complete(new):
                if drop_if_incomplete:
                    self._memories.pop(tenant, None)
                return "incomplete"
            self._memories[tenant] = new
            return "installed"

    def settle(self, tenant: str, memory: TenantMemory) -> None:
        """Call once a committed write has updated `memory` in step.

        If `memory` was dropped meanwhile (another process changed the tenant), the tenant's
        current memory, or one loading, may have been read from before the commit: it is
        dropped, or not kept, so the next use reloads from after it.
        """
        with self._lock:
            if self._memories.get(tenant) is not memory:
                self._drop(tenant)

    def loaded(self) -> list[TenantMemory]:
        """Memories currently held (a snapshot)."""
        with self._lock:
            return list(self._memories.values())

    def forget(self, tenant: str | None = None, only: TenantMemory | None = None) -> None:
        """Drop cached memory so the next use reloads it from SQL.

        With `only`, the tenant's memory is dropped only if it is still that one: a memory
        reloaded in the meantime is kept.
        """
        with self._lock:
            if tenant is None:
                self._memories.clear()
                self._epoch_all += 1
            elif only is None or self._memories.get(tenant) is only:
                self._drop(tenant)

    def _drop(self, tenant: str) -> None:
        """Drop the tenant's memory, and any load of it under way (under the lock)."""
        self._memories.pop(tenant, None)
        self._epochs[tenant] = self._epochs.get(tenant, 0) + 1
