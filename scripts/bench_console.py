"""Server time of each console page's data calls with 10,000 patterns (p50 / p99, printed).

    .venv/bin/python scripts/bench_console.py --patterns 10000 --decisions 30000 --repeat 40

Builds a tenant in a temporary directory: `--patterns` patterns learned through the real
learner (each reply states its own door code, so none share a pattern; every other pattern gets
a second example), live-flow decisions spread over 30 days with operator verdicts on a fifth of
them, and half the patterns approved in mixed modes. Then it calls, in process through the
whole ASGI stack (access gate included), exactly the requests each console page makes and
prints each call's and each page's time. Texts are embedded by a deterministic hashing
embedder so building 10,000 patterns takes seconds; the real model's cost per query is what
`pls bench` measures (a few ms) and comes on top of the match and search calls only.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.auth import create_key  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import session_scope  # noqa: E402
from app.learning.learner import Interaction  # noqa: E402
from app.main import create_app  # noqa: E402
from app.models import Decision, Feedback, Message, Pattern, utcnow  # noqa: E402
from app.services import build_services  # noqa: E402
from embeddings.base import Embedder  # noqa: E402
from indexer.edge import EdgeStore  # noqa: E402

TARGET_MS = 200.0


class HashingEmbedder(Embedder):
    """Bag-of-words vectors hashed into 128 buckets: texts sharing words are close."""

    model_id = "bench-hashing"
    dim = 128
    batch_size = 256

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            if not out[row].any():
                out[row, 0] = 1.0
        return out


def build(tmp: Path, n_patterns: int, n_decisions: int) -> tuple[TestClient, int]:
    settings = Settings(var_dir=tmp / "var", cache_dir=tmp / "cache", database_url=None, qdrant_url=None,
                        _env_file=None)  # type: ignore[call-arg]  # fmt: skip
    embedder = HashingEmbedder()
    services = build_services(settings, embedder=embedder, store=EdgeStore(tmp / "qdrant", dim=embedder.dim))
    places = ["bedford", "camden", "hove", "leeds", "york", "bath", "derby", "ely"]
    interactions = []
    for i in range(n_patterns):
        place = places[i % len(places)]
        reply = f"The door code for bay {i} at {place} is {10000 + i}."
        interactions.append(Interaction(text=f"what is the door code for bay {i} at {place}", reply=reply))
        if i % 2 == 0:
            interactions.append(Interaction(text=f"code to get into bay {i} {place} please", reply=reply))
    started = time.perf_counter()
    services.learner.learn_many("default", interactions, source="import")
    print(f"learned {len(interactions)} examples in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    rng = random.Random(7)
    now = utcnow()
    with session_scope(services.engine) as session:
        ids = [p for p in session.exec(select(Pattern.id).where(Pattern.tenant == "default")).all()]
        session.execute(
            update(Pattern).where(Pattern.id.in_(ids[::2])).values(status="approved", mode="suggest")
        )  # type: ignore[union-attr]
        session.execute(
            update(Pattern).where(Pattern.id.in_(ids[1::6])).values(status="approved", mode="auto")
        )  # type: ignore[union-attr]
        messages = [Message(tenant="default", direction="incoming", text=f"message {i}", text_hash=f"m{i}",
                            author="customer", state="decided") for i in range(n_decisions)]  # fmt: skip
        session.add_all(messages)
        session.flush()
        for i, message in enumerate(messages):
            at = now - timedelta(minutes=rng.randrange(30 * 24 * 60))
            pattern_id = rng.choice(ids)
            confidence = rng.random()
            action = "auto" if confidence > 0.9 else "suggest" if confidence > 0.6 else "abstain"
            decision_id = f"{i:032x}"
            session.add(Decision(id=decision_id, tenant="default", message_id=message.id, text=message.text,
                                 pattern_id=pattern_id, confidence=confidence, action=action, decision="shadow",
                                 reason="bench", created_at=at))  # fmt: skip
            if i % 5 == 0:
                session.add(Feedback(tenant="default", pattern_id=pattern_id, decision_id=decision_id,
                                     verdict=rng.choice(["accepted", "accepted", "edited", "rejected"]),
                                     action=action, created_at=at))  # fmt: skip
    with session_scope(services.engine) as session:
        _, key = create_key(session, "default", "admin", "bench")
    with Session(services.engine) as session:
        busiest = session.exec(select(Decision.pattern_id)).first()
    client = TestClient(create_app(services=services), headers={"Authorization": f"Bearer {key}"})
    return client, int(busiest or ids[0])


def pages(pattern_id: int) -> dict[str, list[tuple[str, str, dict | None]]]:
    """Each console page and the requests it makes (method, path, JSON body)."""
    return {
        "shell": [("GET", "/", None)],
        "inbox": [("GET", "/api/inbox?limit=100", None)],
        "queue": [("GET", "/api/approval-queue?limit=200", None)],
        "patterns": [("GET", "/api/pattern-list?limit=50&sort=examples", None)],
        "patterns (search)": [("GET", "/api/pattern-list?q=bedford&status=approved&limit=50", None)],
        "pattern detail": [
            ("GET", f"/api/patterns/{pattern_id}?examples=100", None),
            ("GET", f"/api/patterns/{pattern_id}/versions", None),
            ("GET", f"/api/patterns/{pattern_id}/history?days=30", None),
        ],
        "pattern suggestions": [("GET", "/api/suggestions", None)],
        "playground": [("POST", "/api/match", {"text": "door code for bay 77 at hove", "record": False})],
        "search": [("GET", "/api/search?q=door+code+bay+12+bedford&limit=20", None)],
        "dashboard": [("GET", "/api/metrics?days=30&recent_days=7", None)],
        "settings": [("GET", "/api/runtime", None), ("GET", "/api/policy", None)]
        + [
            ("GET", f"/api/pattern-list?mode={m}&status=approved&limit=1", None)
            for m in ("shadow", "suggest", "auto")
        ],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patterns", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        client, pattern_id = build(Path(tmp), args.patterns, args.decisions)
        with client:
            print(
                f"{args.patterns} patterns, {args.decisions} decisions; {args.repeat} runs per page; target p99 < {TARGET_MS:.0f} ms"
            )
            print(f"{'page':<22}{'p50 ms':>9}{'p99 ms':>9}   calls (p50 ms each)")
            for page, calls in pages(pattern_id).items():
                per_call: dict[str, list[float]] = {path: [] for _, path, _ in calls}
                totals = []
                for run in range(args.repeat + 2):
                    total = 0.0
                    for method, path, body in calls:
                        started = time.perf_counter()
                        response = client.request(method, path, json=body)
                        elapsed = (time.perf_counter() - started) * 1000
                        if response.status_code != 200:
                            raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:200]}")
                        if run >= 2:  # the first two runs warm caches (tenant memory, SQL plans)
                            per_call[path].append(elapsed)
                            total += elapsed
                    if run >= 2:
                        totals.append(total)
                detail = ", ".join(
                    f"{p.split('?')[0]} {statistics.median(v):.1f}" for p, v in per_call.items()
                )
                flag = "" if percentile(totals, 0.99) < TARGET_MS else "  (over target)"
                print(
                    f"{page:<22}{statistics.median(totals):>9.1f}{percentile(totals, 0.99):>9.1f}   {detail}{flag}"
                )


if __name__ == "__main__":
    main()
