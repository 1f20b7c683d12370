"""What a tenant's memory reload costs matching: its load time, and matches during a reload.

    .venv/bin/python scripts/bench_reload.py --n 100000

Builds a tenant of `--n` examples as `pls bench` does (app/evaluation/bench.py), then times
loading its memory from SQL, and one caller's matches in three phases side by side: alone,
while the upkeep loop's refresher reloads the memory beside it, and right after the memory was
dropped (what a reload used to mean: the next match loads it). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import update
from sqlmodel import col

from app.config import Settings
from app.db import session_scope
from app.evaluation import bench
from app.evaluation.corpus import labelled_texts
from app.learning.memory_watch import MemoryRefresher
from app.models import Tenant
from app.services import Services


def _ms(seconds: list[float], q: float) -> float:
    return round(float(np.percentile(seconds, q)) * 1000, 2) if seconds else 0.0


def _matches_while(services: Services, tenant: str, texts: list[str], busy: threading.Thread) -> list[float]:
    """Seconds per match, matched one after another for as long as `busy` runs."""
    latencies: list[float] = []
    busy.start()
    while busy.is_alive():
        started = time.perf_counter()
        services.matcher.match(tenant, texts[len(latencies) % len(texts)], record=False)
        latencies.append(time.perf_counter() - started)
    busy.join()
    return latencies


def run(n: int) -> dict[str, Any]:
    settings = Settings()
    corpus = labelled_texts()
    base = corpus[: min(bench.BASE_TEXTS, len(corpus) // 2)]
    texts = [text for text, _ in corpus[len(base) :]][:1000]
    with tempfile.TemporaryDirectory(prefix="pls-reload-") as tmp:
        services = bench.temporary_services(settings, Path(tmp))
        try:
            tenant = services.settings.default_tenant
            bench.index_derived(services, settings, base, n)
            services.store.optimize()
            services.calibration.fit(tenant)
            loads = []
            for _ in range(3):
                started = time.perf_counter()
                services.memories.load(tenant)
                loads.append(time.perf_counter() - started)
            services.memories.get(tenant)
            for text in texts:  # every text's vector cached: the phases time matching, not the model
                services.matcher.match(tenant, text, record=False)

            alone = _matches_while(services, tenant, texts, threading.Thread(target=time.sleep, args=(2.0,)))
            memory = services.memories.get(tenant)
            refresher = MemoryRefresher(services.engine, services.memories)
            with session_scope(services.engine) as session:  # as another process's commit does
                session.execute(
                    update(Tenant)
                    .where(col(Tenant.id) == tenant)
                    .values(memory_revision=Tenant.memory_revision + 1)
                )
            beside = _matches_while(services, tenant, texts, threading.Thread(target=refresher.run_once))
            assert services.memories.get(tenant) is not memory, "the refresher did not swap the memory in"
            services.memories.forget(tenant)
            started = time.perf_counter()
            services.matcher.match(tenant, texts[0], record=False)
            after_drop = time.perf_counter() - started
        finally:
            services.close()
    return {
        "n_examples": n,
        "load_s": [round(s, 2) for s in loads],
        "match_alone_ms": {"p50": _ms(alone, 50), "p99": _ms(alone, 99), "max": _ms(alone, 100)},
        "match_during_refresh_ms": {
            "n": len(beside),
            "p50": _ms(beside, 50),
            "p99": _ms(beside, 99),
            "max": _ms(beside, 100),
        },
        "first_match_after_drop_ms": round(after_drop * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000)
    print(json.dumps(run(parser.parse_args().n)))


if __name__ == "__main__":
    main()
