"""The memory registry: tenants load independently, a load that may predate a settled write is
read again, and the service loads every tenant's memory when it starts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.config import Settings
from app.learning.grouping import PatternGrouper
from app.learning.learner import Interaction
from app.learning.loader import MemoryLoader
from app.learning.memory import MemoryRegistry, TenantMemory
from app.services import Services, build_services
from app.tenants import create_tenant
from tests.conftest import FakeEmbedder, api_client, wait_until_loaded


class GatedLoader:
    """Makes bare memories; a load of a tenant in `gates` waits until its event is set."""

    def __init__(self) -> None:
        self.gates: dict[str, threading.Event] = {}
        self.started: dict[str, threading.Event] = {}
        self.calls: list[str] = []

    def gate(self, tenant: str) -> tuple[threading.Event, threading.Event]:
        """(started, release) of the tenant's next loads."""
        self.started[tenant], self.gates[tenant] = threading.Event(), threading.Event()
        return self.started[tenant], self.gates[tenant]

    def __call__(self, tenant: str) -> TenantMemory:
        self.calls.append(tenant)
        if tenant in self.gates:
            self.started[tenant].set()
            assert self.gates[tenant].wait(10)
        return TenantMemory(tenant=tenant, grouper=PatternGrouper(dim=4))


@pytest.fixture
def services(settings: Settings, fake_embedder: FakeEmbedder) -> Iterator[Services]:
    built = build_services(settings, embedder=fake_embedder)
    yield built
    built.close()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


def test_a_tenant_s_first_load_does_not_hold_up_another_tenant(pool: ThreadPoolExecutor) -> None:
    loader = GatedLoader()
    memories = MemoryRegistry(loader)
    started, release = loader.gate("big")
    big = pool.submit(memories.get, "big")
    assert started.wait(10)
    # While the large tenant loads, a small one loads and answers.
    assert memories.get("small").tenant == "small"
    assert not big.done()
    release.set()
    assert big.result(10).tenant == "big"


def test_concurrent_first_uses_of_a_tenant_load_it_once(pool: ThreadPoolExecutor) -> None:
    loader = GatedLoader()
    memories = MemoryRegistry(loader)
    started, release = loader.gate("north")
    first = pool.submit(memories.get, "north")
    assert started.wait(10)
    second = pool.submit(memories.get, "north")
    time.sleep(0.05)  # the second caller is waiting for the first one's load
    release.set()
    assert first.result(10) is second.result(10)
    assert loader.calls == ["north"]


@pytest.mark.parametrize(
    "invalidate",
    [
        pytest.param(lambda memories, stale: memories.settle("north", stale), id="settle"),
        pytest.param(lambda memories, stale: memories.forget("north"), id="forget"),
        pytest.param(lambda memories, stale: memories.forget(), id="forget-all"),
    ],
)
def test_a_load_that_may_predate_a_settled_write_is_read_again(
    pool: ThreadPoolExecutor, invalidate: Callable[[MemoryRegistry, TenantMemory], None]
) -> None:
    loader = GatedLoader()
    memories = MemoryRegistry(loader)
    stale = memories.get("north")
    memories.forget("north")  # another process changed the tenant
    started, release = loader.gate("north")
    loading = pool.submit(memories.get, "north")
    assert started.wait(10)
    # A write of this process on the dropped memory commits while the load reads.
    invalidate(memories, stale)
    release.set()
    reloaded = loading.result(10)
    assert loader.calls == ["north", "north", "north"]  # first use, the load, the load again
    assert memories.get("north") is reloaded


def test_a_settle_on_the_memory_in_use_keeps_it() -> None:
    loader = GatedLoader()
    memories = MemoryRegistry(loader)
    memory = memories.get("north")
    memories.settle("north", memory)
    assert memories.get("north") is memory and loader.calls == ["north"]


def test_warming_loads_every_tenant_and_reports_progress(pool: ThreadPoolExecutor) -> None:
    loader = GatedLoader()
    memories = MemoryRegistry(loader)
    assert memories.warming() is None
    started, release = loader.gate("second")
    warming = pool.submit(memories.warm, ["first", "second", "third"])
    assert started.wait(10)
    assert memories.warming() == (1, 3)
    release.set()
    warming.result(10)
    assert memories.warming() is None
    assert {memory.tenant for memory in memories.loaded()} == {"first", "second", "third"}


def test_a_tenant_that_fails_to_load_does_not_stop_the_warming() -> None:
    def loader(tenant: str) -> TenantMemory:
        if tenant == "broken":
            raise RuntimeError("unreadable")
        return TenantMemory(tenant=tenant, grouper=PatternGrouper(dim=4))

    memories = MemoryRegistry(loader)
    memories.warm(["broken", "fine"])
    assert [memory.tenant for memory in memories.loaded()] == ["fine"]


def test_the_service_loads_its_tenants_on_start_and_is_ready_once_they_are(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_tenant(services.engine, "north", "North")
    services.learner.learn_many("north", [Interaction("opening hours", "North opens at 9am.")] * 2)
    create_tenant(services.engine, "quiet", "Quiet")  # nothing learned: nothing to load
    services.memories.forget()
    started, release = threading.Event(), threading.Event()
    load = MemoryLoader.__call__

    def gated(self: MemoryLoader, tenant: str) -> TenantMemory:
        started.set()
        assert release.wait(10)
        return load(self, tenant)

    monkeypatch.setattr(MemoryLoader, "__call__", gated)
    with api_client(services) as client:
        assert started.wait(10)
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["checks"]["memories"] == "loading 0/1"
        release.set()
        wait_until_loaded(services)
        response = client.get("/readyz")
        assert response.status_code == 200 and response.json()["checks"]["memories"] == "ok"
        assert [memory.tenant for memory in services.memories.loaded()] == ["north"]
