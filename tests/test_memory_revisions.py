"""A running service notices what another process committed, and only that.

Two engines on one database stand for two processes: each engine keeps its own record of the
revisions it committed, as each process does.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, select

from app.config import Settings
from app.db import make_engine, session_scope
from app.learning.learner import Interaction
from app.learning.loader import MemoryLoader, collection_paused
from app.learning.memory import MemoryRegistry, TenantMemory
from app.learning.memory_watch import MAX_INCOMPLETE_RELOADS, MemoryRefresher
from app.models import Calibration, Example, Pattern, Tenant
from app.models.revisions import own_revisions
from app.services import build_services
from app.workers import BackgroundWorkers
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder

TENANT = "default"


@pytest.fixture
def other(db_url: str, engine: Engine) -> Iterator[Engine]:
    """A second engine on the same database: another process (`pls import`, a replica)."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def seed(engine: Engine) -> int:
    """A tenant with one pattern and one example; returns the pattern id."""
    with session_scope(engine) as session:
        if session.get(Tenant, TENANT) is None:
            session.add(Tenant(id=TENANT, name="Default"))
        pattern = Pattern(tenant=TENANT, response_text="We open at 9.", reply_key="k", status="approved")
        session.add(pattern)
        session.flush()
        session.add(
            Example(
                tenant=TENANT,
                pattern_id=pattern.id,
                text="when do you open",
                reply="We open at 9.",
                text_hash="h1",
            )
        )
        assert pattern.id is not None
        return pattern.id


def revision(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(Tenant.memory_revision).where(Tenant.id == TENANT)).one()


def set_status(engine: Engine, pattern_id: int, status: str) -> None:
    with session_scope(engine) as session:
        pattern = session.get(Pattern, pattern_id)
        assert pattern is not None
        pattern.status = status


@pytest.fixture
def memories(engine: Engine, fake_embedder: FakeEmbedder) -> MemoryRegistry:
    return MemoryRegistry(MemoryLoader(engine, fake_embedder))


def refresh(engine: Engine, memories: MemoryRegistry) -> list[str]:
    """One upkeep round's look at other processes' changes."""
    return MemoryRefresher(engine, memories).run_once()


class HookedLoader:
    """A memory loader that runs `during` (once armed) after loading, before handing the memory over."""

    def __init__(self, engine: Engine, embedder: FakeEmbedder) -> None:
        self.load = MemoryLoader(engine, embedder)
        self.during: Callable[[], None] | None = None

    def __call__(self, tenant: str) -> TenantMemory:
        memory = self.load(tenant)
        if self.during is not None:
            self.during()
        return memory


def hooked_registry(engine: Engine, embedder: FakeEmbedder) -> tuple[HookedLoader, MemoryRegistry]:
    """A memory registry whose loads run the returned loader's hook."""
    loader = HookedLoader(engine, embedder)
    return loader, MemoryRegistry(loader)


def on_a_clock(
    engine: Engine, embedder: FakeEmbedder, spacing: float = 4.0
) -> tuple[HookedLoader, MemoryRegistry, MemoryRefresher, list[float]]:
    """A hooked registry and a refresher of it whose clock reads `now[0]` (starting at 100 s)."""
    now = [100.0]
    loader, memories = hooked_registry(engine, embedder)
    refresher = MemoryRefresher(engine, memories, spacing=spacing, clock=lambda: now[0])
    return loader, memories, refresher, now


def add_pattern(engine: Engine, reply: str) -> None:
    """A write of this process, committed straight to SQL."""
    with session_scope(engine) as session:
        session.add(Pattern(tenant=TENANT, response_text=reply, reply_key=reply))


def test_matching_keeps_the_memory_in_use_while_the_changed_one_loads(
    engine: Engine, other: Engine, fake_embedder: FakeEmbedder
) -> None:
    pattern_id = seed(engine)
    loader, memories = hooked_registry(engine, fake_embedder)
    memory = memories.get(TENANT)
    loading, release = threading.Event(), threading.Event()

    def slow_load() -> None:
        loading.set()
        assert release.wait(10)

    loader.during = slow_load
    set_status(other, pattern_id, "disabled")
    with ThreadPoolExecutor(1) as pool:
        round_ = pool.submit(refresh, engine, memories)
        assert loading.wait(10)
        # Mid-reload: the memory in use answers at once, unchanged.
        assert memories.get(TENANT) is memory and memory.patterns[pattern_id].status == "approved"
        release.set()
        assert round_.result(10) == [TENANT]
    swapped = memories.get(TENANT)
    assert swapped is not memory and swapped.patterns[pattern_id].status == "disabled"
    assert swapped.revision == revision(engine)


def test_a_reload_that_may_miss_this_process_s_own_write_is_not_installed(
    engine: Engine, other: Engine, fake_embedder: FakeEmbedder
) -> None:
    pattern_id = seed(engine)
    loader, memories, refresher, now = on_a_clock(engine, fake_embedder)
    memory = memories.get(TENANT)
    set_status(other, pattern_id, "disabled")

    def own_write_meanwhile() -> None:
        loader.during = None
        add_pattern(engine, "We close at 5.")  # the memory in use takes this write in step

    loader.during = own_write_meanwhile
    assert refresher.run_once() == [TENANT]
    # The incomplete reload is not installed; matching goes on with the memory in use.
    assert memories.loaded() == [memory]
    now[0] += 60.0
    assert refresher.run_once() == [TENANT]  # the next round loads again, completely this time
    reloaded = memories.get(TENANT)
    assert reloaded is not memory
    assert reloaded.patterns[pattern_id].status == "disabled"
    assert {p.response_text for p in reloaded.patterns.values()} == {"We open at 9.", "We close at 5."}
    assert reloaded.revision == revision(engine)


def test_a_tenant_this_process_writes_without_pause_is_dropped_after_a_few_incomplete_reloads(
    engine: Engine, other: Engine, fake_embedder: FakeEmbedder
) -> None:
    pattern_id = seed(engine)
    loader, memories, refresher, now = on_a_clock(engine, fake_embedder)
    memory = memories.get(TENANT)
    set_status(other, pattern_id, "disabled")

    def own_write_meanwhile() -> None:
        add_pattern(engine, f"We close at {now[0]}.")

    loader.during = own_write_meanwhile
    for _ in range(MAX_INCOMPLETE_RELOADS - 1):
        assert refresher.run_once() == [TENANT]
        assert memories.loaded() == [memory]
        now[0] += 60.0
    assert refresher.run_once() == [TENANT]
    assert memories.loaded() == []  # the next use loads, and sees the other process's change
    loader.during = None
    assert memories.get(TENANT).patterns[pattern_id].status == "disabled"


def test_reloads_of_a_tenant_are_spaced_by_how_long_they_take(
    engine: Engine, other: Engine, fake_embedder: FakeEmbedder
) -> None:
    pattern_id = seed(engine)
    loader, memories, refresher, now = on_a_clock(engine, fake_embedder, spacing=4.0)
    memories.get(TENANT)

    def takes_a_second() -> None:
        now[0] += 1.0

    loader.during = takes_a_second
    set_status(other, pattern_id, "disabled")
    assert refresher.run_once() == [TENANT]  # loaded from 100 to 101: the next is due at 105

    set_status(other, pattern_id, "approved")
    now[0] = 104.5
    assert refresher.run_once() == []
    assert memories.get(TENANT).patterns[pattern_id].status == "disabled"  # served a little longer
    now[0] = 105.0
    assert refresher.run_once() == [TENANT]
    assert memories.get(TENANT).patterns[pattern_id].status == "approved"
    assert memories.get(TENANT).revision == revision(engine)


def test_a_change_committed_by_another_process_reloads_the_memory(
    engine: Engine, other: Engine, memories: MemoryRegistry
) -> None:
    pattern_id = seed(engine)
    memory = memories.get(TENANT)
    assert memory.revision == revision(engine) and memory.patterns[pattern_id].status == "approved"
    assert refresh(engine, memories) == []

    set_status(other, pattern_id, "disabled")

    assert refresh(engine, memories) == [TENANT]
    reloaded = memories.get(TENANT)
    assert reloaded is not memory
    assert reloaded.patterns[pattern_id].status == "disabled"
    assert reloaded.revision == revision(engine)
    assert refresh(engine, memories) == []  # caught up: nothing more to do


def test_this_process_s_own_changes_keep_the_memory(engine: Engine, memories: MemoryRegistry) -> None:
    pattern_id = seed(engine)
    memory = memories.get(TENANT)
    before = revision(engine)

    set_status(engine, pattern_id, "disabled")
    set_status(engine, pattern_id, "approved")

    assert revision(engine) == before + 2  # one move per transaction
    assert refresh(engine, memories) == []
    assert memories.get(TENANT) is memory and memory.revision == before + 2


def test_another_process_s_change_between_own_ones_is_not_missed(
    engine: Engine, other: Engine, memories: MemoryRegistry
) -> None:
    pattern_id = seed(engine)
    memory = memories.get(TENANT)
    set_status(engine, pattern_id, "disabled")
    set_status(other, pattern_id, "approved")
    set_status(engine, pattern_id, "candidate")

    assert refresh(engine, memories) == [TENANT]
    assert memories.get(TENANT) is not memory


def test_what_matching_does_not_keep_leaves_the_revision_alone(engine: Engine) -> None:
    pattern_id = seed(engine)
    before = revision(engine)
    with session_scope(engine) as session:
        pattern = session.get(Pattern, pattern_id)
        assert pattern is not None
        pattern.match_count += 3  # counters and timestamps are not in memory
        tenant = session.get(Tenant, TENANT)
        assert tenant is not None
        tenant.name = "Renamed"
    with session_scope(engine) as session:  # the decision log's bulk statement
        session.execute(
            update(Pattern).where(Pattern.id == pattern_id).values(match_count=Pattern.match_count + 1)
        )
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        pattern = session.get(Pattern, pattern_id)
        assert pattern is not None
        pattern.status = "disabled"
        session.flush()  # moved inside the transaction ...
        raise RuntimeError("... and rolled back with it")
    assert revision(engine) == before


@pytest.mark.parametrize("change", ["example", "calibration", "delete"])
def test_examples_calibrations_and_deletions_move_the_revision(engine: Engine, change: str) -> None:
    pattern_id = seed(engine)
    before = revision(engine)
    with session_scope(engine) as session:
        if change == "example":
            example = session.exec(select(Example).where(Example.pattern_id == pattern_id)).one()
            example.status = "voided"
        elif change == "calibration":
            session.add(Calibration(tenant=TENANT, suggest_threshold=0.5, auto_threshold=0.9))
        else:
            for example in session.exec(select(Example).where(Example.pattern_id == pattern_id)):
                session.delete(example)
    assert revision(engine) == before + 1


def test_the_running_service_stops_offering_a_pattern_disabled_elsewhere(
    settings: Settings,
    db_url: str,
    engine: Engine,
    other: Engine,
    tmp_path: Path,
    fake_embedder: FakeEmbedder,
) -> None:
    services = build_services(
        settings,
        embedder=fake_embedder,
        store=EdgeStore(tmp_path / "index", dim=fake_embedder.dim),
        engine=engine,
    )
    try:
        hours = services.learner.learn(
            TENANT, Interaction("what time do you open", "We open at 9am.")
        ).pattern_id
        services.learner.learn(TENANT, Interaction("where do I park", "Park behind the building."))
        assert services.matcher.match(TENANT, "what time do you open today").pattern_id == hours

        set_status(other, hours, "disabled")  # e.g. `pls patterns import --overwrite` beside the service
        BackgroundWorkers(services).run_once()

        assert services.matcher.match(TENANT, "what time do you open today").pattern_id != hours
    finally:
        services.close()


def test_the_record_of_own_revisions_keeps_only_what_a_memory_may_still_need(
    engine: Engine, memories: MemoryRegistry
) -> None:
    pattern_id = seed(engine)
    set_status(engine, pattern_id, "disabled")
    assert own_revisions(engine, TENANT) == {revision(engine) - 1, revision(engine)}

    refresh(engine, memories)  # no memory loaded: nothing is needed
    assert own_revisions(engine, TENANT) == set()

    memories.get(TENANT)
    set_status(engine, pattern_id, "approved")
    refresh(engine, memories)  # caught up: the memory needs none of them
    assert own_revisions(engine, TENANT) == set()


def test_a_revision_that_went_back_is_a_change_too(engine: Engine, memories: MemoryRegistry) -> None:
    seed(engine)
    memory = memories.get(TENANT)
    with session_scope(engine) as session:  # a database restored from an older backup
        session.execute(update(Tenant).where(Tenant.id == TENANT).values(memory_revision=memory.revision - 1))
    assert refresh(engine, memories) == [TENANT]


def test_exact_search_from_sql_reads_a_tenant_again_only_when_its_revision_moved(
    engine: Engine, fake_embedder: FakeEmbedder
) -> None:
    from app.indexing import SqlNeighbours

    pattern = seed(engine)
    neighbours = SqlNeighbours(engine, fake_embedder)
    query = fake_embedder.embed(["when do you open"])
    first = neighbours(TENANT, ("active", "gold")).search_batch(query, 5)
    embedded = fake_embedder.texts_embedded
    assert neighbours(TENANT, ("active", "gold")).search_batch(query, 5) == first
    assert fake_embedder.texts_embedded == embedded  # the same revision: nothing read again

    with session_scope(engine) as session:  # e.g. a learn by this very process
        session.add(
            Example(
                tenant=TENANT, pattern_id=pattern, text="open today?", reply="We open at 9.", text_hash="h2"
            )
        )
    hits = neighbours(TENANT, ("active", "gold")).search_batch(query, 5)[0]
    assert len(hits) == 2 and fake_embedder.texts_embedded > embedded


def test_no_garbage_collection_runs_while_a_memory_loads(
    engine: Engine, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine)
    seen: list[bool] = []
    load = MemoryLoader.load

    def watched(self: MemoryLoader, session: Session, tenant: str) -> TenantMemory:
        seen.append(gc.isenabled())
        return load(self, session, tenant)

    monkeypatch.setattr(MemoryLoader, "load", watched)
    loader = MemoryLoader(engine, fake_embedder)
    with collection_paused():  # another load under way: the inner one must not switch it back on
        loader(TENANT)
        assert not gc.isenabled()
    assert gc.isenabled()
    MemoryRegistry(loader).get(TENANT)
    assert seen == [False, False] and gc.isenabled()
