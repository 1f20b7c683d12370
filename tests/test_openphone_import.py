"""OpenPhone exports: threads rebuilt, turns paired with their replies, the demo history imported."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.demo_history import generate_history, write_history
from app.importers.openphone import KIND, openphone_records
from app.importers.runner import run_import
from app.importers.runs import file_fingerprint
from app.services import Services, build_services
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_client

T0 = datetime(2026, 10, 1, 15, 0, tzinfo=UTC)
ME, CUSTOMER = "+19025550100", "+19025551234"


def msg(n: int, incoming: bool, body: str, minutes: float, customer: str = CUSTOMER) -> dict[str, Any]:
    return {
        "id": f"AC{n}",
        "object": "message",
        "from": customer if incoming else ME,
        "to": [ME if incoming else customer],
        "direction": "incoming" if incoming else "outgoing",
        "body": body,
        "status": "delivered",
        "createdAt": (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "userId": None if incoming else "US1",
        "phoneNumberId": "PN1",
        "conversationId": "CN1",
    }


THREAD = [
    msg(1, True, "hi", 0),
    msg(2, True, "I'm at bedford, what's the door code?", 0.5),
    msg(3, False, "The door code for Bedford is 4512.", 3),
    msg(4, True, "thanks!", 5),
    # Seven hours later: a new thread, whose first answer confused the customer.
    msg(5, True, "thanks again!", 7 * 60),
    msg(10, True, "is the sim free tonight?", 7 * 60 + 0.2),
    msg(6, False, "The door code for Dartmouth is 7788.", 7 * 60 + 2),
    msg(7, True, "what?", 7 * 60 + 3),
    msg(8, False, "Sorry! Bay 2 is free from 8pm, book at golfsim.example/book", 7 * 60 + 4),
    msg(9, True, "still can't see it on the site", 7 * 60 + 9),
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_threads_are_rebuilt_and_each_customer_turn_gets_its_reply(tmp_path: Path) -> None:
    # Shuffled lines: the order comes from the timestamps, not the file.
    path = write_jsonl(tmp_path / "export.jsonl", THREAD[::-1])
    records = openphone_records(path, path.read_bytes())
    turns = [r.turn for r in records if r.turn is not None]
    assert [(t.text, t.reply) for t in turns] == [
        ("hi\nI'm at bedford, what's the door code?", "The door code for Bedford is 4512."),
        ("is the sim free tonight?", "The door code for Dartmouth is 7788."),
        ("what?", "Sorry! Bay 2 is free from 8pm, book at golfsim.example/book"),
    ]
    first, confused, last = turns
    assert first.context == () and first.followups == ("thanks!",) and first.resolved is None
    assert first.occurred_at == T0 + timedelta(minutes=0.5)
    # The thanks opening the next thread is context, not part of the question.
    assert confused.context == ("thanks again!",) and confused.followups[0] == "what?"
    # The thread ends with the customer still stuck.
    assert last.resolved is False
    assert records[0].location == f"{path}:{len(THREAD)}"


def test_csv_with_the_same_columns_gives_the_same_turns(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "export.jsonl", THREAD)
    path = tmp_path / "export.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(THREAD[0]))
        writer.writeheader()
        for row in THREAD:
            writer.writerow({**row, "to": json.dumps(row["to"])})
    from_csv = [r.turn for r in openphone_records(path, path.read_bytes())]
    assert from_csv == [r.turn for r in openphone_records(jsonl, jsonl.read_bytes())]


def test_bad_message_lines_are_reported_and_since_drops_older_messages(tmp_path: Path) -> None:
    rows = [json.dumps(r) for r in THREAD[:4]] + [
        "{broken",
        json.dumps({**THREAD[5], "direction": "sideways"}),
        json.dumps({**THREAD[5], "createdAt": "yesterday"}),
    ]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    records = openphone_records(path, path.read_bytes())
    assert [(r.location, r.error) for r in records if r.error] == [
        (f"{path}:5", "invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
        (f"{path}:6", "field 'direction' must be incoming or outgoing, not 'sideways'"),
        (f"{path}:7", "field 'createdAt' is not an ISO 8601 time: 'yesterday'"),
    ]
    assert [r.position for r in records] == list(range(1, len(records) + 1))
    later = openphone_records(path, path.read_bytes(), since=T0 + timedelta(minutes=1))
    assert [r.turn for r in later if r.turn] == []


def test_generated_history_is_deterministic_and_shaped_like_an_export() -> None:
    first, again, other = generate_history(seed=3, days=5), generate_history(seed=3, days=5), generate_history(seed=4, days=5)
    assert first == again and first != other
    fields = {"id", "object", "from", "to", "direction", "body", "status", "createdAt", "userId", "phoneNumberId", "conversationId"}
    assert all(set(m) == fields and m["object"] == "message" for m in first)
    assert {m["direction"] for m in first} == {"incoming", "outgoing"}


@pytest.fixture
def services(settings: Settings, tmp_path: Path) -> Iterator[Services]:
    embedder = FakeEmbedder()
    built = build_services(settings, embedder=embedder, store=EdgeStore(tmp_path / "q", dim=embedder.dim))
    yield built
    built.close()


def test_demo_history_imports_with_bad_threads_voided_and_candidates_listed(
    services: Services, tmp_path: Path
) -> None:
    path = write_history(tmp_path / "golf.jsonl", generate_history(seed=7, days=40))
    data = path.read_bytes()

    def run() -> Any:
        records = openphone_records(path, data)
        return run_import(
            services,
            tenant="default",
            kind=KIND,
            path=str(path),
            fingerprint=file_fingerprint(data, KIND, ""),
            records=records,
            total=len(records),
        )

    summary = run()
    assert summary.learned > 100 and summary.error_count == 0
    assert {"reply too short to be an answer", "reply confused the customer", "thread unresolved", "test message",
            "profanity in reply"} <= set(summary.void_reasons)
    assert summary.calibration and summary.candidates and summary.candidates >= 5
    again = run()
    assert (again.learned, again.voided) == (0, 0)
    with api_client(services) as client:
        listed = client.get("/api/discovery/candidates").json()
        assert len(listed) == summary.candidates
        top = listed[0]
        assert top["size"] >= listed[-1]["size"] and top["examples"] and top["per_day"] > 0
        # 40 days of history: a daily rate, not the count.
        assert top["per_day"] < top["size"]
        assert client.get("/api/discovery/candidates", params={"tenant": "nobody"}).status_code == 404
        assert client.get("/api/discovery/candidates", params={"status": "maybe"}).status_code == 422


runner = CliRunner()


def test_cli_import_of_an_unreadable_or_unusable_file_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLS_VAR_DIR", str(tmp_path / "var"))
    from app.config import get_settings

    get_settings.cache_clear()
    try:
        result = runner.invoke(cli, ["import", "pairs", str(tmp_path / "missing.jsonl")])
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines() == [
            f"error: {tmp_path / 'missing.jsonl'}:0: cannot read file: No such file or directory"
        ]
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"text": "hi"}\n', encoding="utf-8")
        result = runner.invoke(cli, ["import", "pairs", str(bad), "--no-discover"])
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: nothing importable; first problem: {bad}:1: field 'reply' is required in a training file"
        )
    finally:
        get_settings.cache_clear()
