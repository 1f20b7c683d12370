"""Webhook benchmark: N signed deliveries from 16 concurrent senders against a real uvicorn server.

Prints the ingest rate (deliveries answered per second), the time from receipt to decision
(p50 / p99, measured on the server's own clocks: message stored -> decision recorded), and
checks that no message was lost or processed twice (a share of deliveries is sent twice, as
the platform's retries do).

    .venv/bin/python scripts/bench_webhooks.py --n 2000
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from sqlmodel import Session, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings  # noqa: E402
from app.flow.admin import create_line  # noqa: E402
from app.learning.learner import Interaction  # noqa: E402
from app.main import create_app  # noqa: E402
from app.models import Decision, Message  # noqa: E402
from app.services import build_services  # noqa: E402
from app.webhooks.signature import sign_legacy  # noqa: E402

SECRET = "whsec_YmVuY2htYXJrLXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3"
LINE_ID, LINE_NUMBER = "PNbench", "+15550001000"
PAIRS = [
    ("what's the door code for bedford", "The door code for Bedford is 4512."),
    ("when are you open", "We're open 7am to 11pm every day."),
    ("my simulator froze", "Sorry! Restarting your bay now, give it a minute."),
    ("can i get a refund", "Refunds go back to your card within 5 days."),
    ("do you sell gift cards", "Yes, gift cards are at the front desk or on our website."),
]
QUESTIONS = [
    "hey what's the bedford door code",
    "are you open tonight",
    "the sim in bay 3 froze",
    "i want my money back",
    "gift cards?",
    "is there parking",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def payload(i: int) -> bytes:
    created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "id": f"EVbench{i:07d}",
            "object": "event",
            "type": "message.received",
            "createdAt": created,
            "data": {
                "object": {
                    "id": f"ACbench{i:07d}",
                    "object": "message",
                    "from": f"+1555{i:07d}",  # one customer per message: no bursts fold
                    "to": LINE_NUMBER,
                    "direction": "incoming",
                    "body": QUESTIONS[i % len(QUESTIONS)],
                    "media": [],
                    "createdAt": created,
                    "phoneNumberId": LINE_ID,
                }
            },
        }
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="distinct messages to deliver")
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--retry-share", type=float, default=0.05, help="share delivered a second time")
    parser.add_argument("--embedder", default="onnx", choices=["onnx", "sentence-transformers"])
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="pls-bench-webhooks-"))
    settings = Settings(var_dir=var, embedder=args.embedder, openphone_webhook_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    services = build_services(settings)
    create_line(services.engine, "default", LINE_ID, LINE_NUMBER)
    services.learner.learn_many("default", [Interaction(t, r) for t, r in PAIRS * 3])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)

    deliveries = list(range(args.n)) + list(range(0, args.n, max(1, round(1 / args.retry_share))))
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def deliver(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        body = payload(i)
        headers = {
            "content-type": "application/json",
            "openphone-signature": sign_legacy(body, SECRET, int(time.time() * 1000)),
        }
        status = client.post("/webhooks/openphone", content=body, headers=headers).status_code
        with lock:
            statuses[status] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(args.senders) as pool:
        list(pool.map(deliver, deliveries))
    ingest_s = time.perf_counter() - started
    while services.flow.pending():
        time.sleep(0.1)
    drained_s = time.perf_counter() - started
    services.decisions.flush()

    with Session(services.engine) as session:
        stored = session.exec(select(func.count(Message.id))).one()  # type: ignore[arg-type]
        rows = session.exec(
            select(Message.created_at, Decision.created_at).join(Decision, Decision.message_id == Message.id)  # type: ignore[arg-type]
        ).all()
        per_message = Counter(session.exec(select(Decision.message_id)).all())
    latency_ms = np.array([(d - m).total_seconds() * 1000 for m, d in rows])
    twice = sum(1 for c in per_message.values() if c > 1)
    print(
        f"deliveries        {len(deliveries)} ({args.n} messages, {len(deliveries) - args.n} retries), {args.senders} senders"
    )
    print(f"HTTP statuses     {dict(statuses)}")
    print(f"ingest rate       {len(deliveries) / ingest_s:.0f} deliveries/s ({ingest_s:.1f} s)")
    print(f"all decided after {drained_s:.1f} s ({args.n / drained_s:.0f} decisions/s)")
    print(
        f"receipt->decision p50 {np.percentile(latency_ms, 50):.0f} ms, p99 {np.percentile(latency_ms, 99):.0f} ms"
    )
    print(
        f"stored {stored}/{args.n} messages, decided {len(per_message)}, lost {args.n - len(per_message)}, processed twice {twice}"
    )
    server.should_exit = True
    time.sleep(0.5)
    services.close()


if __name__ == "__main__":
    main()
