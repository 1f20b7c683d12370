"""CLI commands run while a service holds the embedded index: learning ones go on, others say why not.

The "service" here is a second set of services in the test process: the index directory's lock
is per open file, so the CLI's store finds it held exactly as it would from another process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from app.cli import cli
from app.demo import DEMO_HISTORY
from app.models import Example, IndexOutbox
from app.services import Services, build_services
from app.workers import BackgroundWorkers

runner = CliRunner()
TENANT = "default"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """A service holding the embedded index under a temporary PLS_VAR_DIR the CLI shares."""
    monkeypatch.setenv("PLS_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PLS_OUTBOX_INTERVAL_S", "0.1")
    from app.config import get_settings

    get_settings.cache_clear()
    services = build_services(get_settings())
    yield services
    services.close()
    get_settings.cache_clear()


def pairs_file(tmp_path: Path) -> tuple[Path, int]:
    """Demo pairs, all but each conversation's last message (kept to match against)."""
    rows = [{"text": m, "reply": reply} for messages, reply in DEMO_HISTORY for m in messages[:-1]]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path, len(rows)


def count(services: Services, table: type) -> int:
    with Session(services.engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_import_and_learn_beside_the_service_are_indexed_by_it(service: Services, tmp_path: Path) -> None:
    path, n = pairs_file(tmp_path)
    imported = runner.invoke(cli, ["import", "pairs", str(path), "--no-discover"])
    assert imported.exit_code == 0, imported.output
    assert "open in another process" in imported.stderr
    learned = runner.invoke(cli, ["learn", "can I bring my dog along", "Dogs are welcome on a leash."])
    assert learned.exit_code == 0, learned.output
    dogs = json.loads(learned.stdout)["pattern_id"]

    # Stored, and waiting in the outbox for the process that holds the index.
    assert count(service, Example) == n + 1 and count(service, IndexOutbox) == n + 1
    assert service.store.count(TENANT) == 0

    BackgroundWorkers(service).run_once()

    assert count(service, IndexOutbox) == 0 and service.store.count(TENANT) == n + 1
    assert service.matcher.match(TENANT, "can I bring my dog?").pattern_id == dogs
    bedford = service.matcher.match(TENANT, DEMO_HISTORY[0][0][-1])
    assert bedford.reply == DEMO_HISTORY[0][1]


def test_calibrate_beside_the_service_fits_as_the_service_would(service: Services, tmp_path: Path) -> None:
    path, _ = pairs_file(tmp_path)
    assert runner.invoke(cli, ["import", "pairs", str(path), "--no-discover"]).exit_code == 0
    result = runner.invoke(cli, ["calibrate"])
    assert result.exit_code == 0, result.output
    beside = json.loads(result.stdout)
    assert beside["fitted"]

    BackgroundWorkers(service).run_once()  # index the import, take in the new calibration
    memory = service.memories.get(TENANT)
    assert memory.model is not None and memory.model.calibration_id == beside["calibration_id"]

    # The neighbours the CLI found by exact search over SQL are the ones the service's index finds.
    own = service.calibration.fit(TENANT)
    assert (own["rows"], own["rows_by_kind"]) == (beside["rows"], beside["rows_by_kind"])
    assert own["suggest_threshold"] == pytest.approx(beside["suggest_threshold"], abs=1e-3)
    assert own["auto_threshold"] == pytest.approx(beside["auto_threshold"], abs=1e-3)


def test_match_search_and_a_dry_run_beside_the_service_search_sql_exactly(
    service: Services, tmp_path: Path
) -> None:
    path, _ = pairs_file(tmp_path)
    assert runner.invoke(cli, ["import", "pairs", str(path), "--no-discover"]).exit_code == 0
    question = DEMO_HISTORY[1][0][-1]  # a Dartmouth door code question

    # Found before the service has indexed anything: the command searched SQL itself.
    matched = runner.invoke(cli, ["match", question, "--json"])
    assert matched.exit_code == 0, matched.output
    assert json.loads(matched.stdout)["reply"] == DEMO_HISTORY[1][1]
    searched = runner.invoke(cli, ["search", question, "--limit", "3"])
    assert searched.exit_code == 0, searched.output
    assert DEMO_HISTORY[1][1] in searched.stdout

    BackgroundWorkers(service).run_once()
    assert service.matcher.match(TENANT, question).pattern_id == json.loads(matched.stdout)["pattern_id"]

    exported = tmp_path / "patterns.json"
    assert runner.invoke(cli, ["patterns", "export", "-o", str(exported)]).exit_code == 0
    dry_run = runner.invoke(cli, ["patterns", "import", str(exported)])
    assert dry_run.exit_code == 0, dry_run.output
    assert json.loads(dry_run.stdout)["dry_run"] is True


def test_a_command_that_needs_the_index_itself_says_so_in_one_line(service: Services) -> None:
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.count("\n") == 0 and "already open" in message and "needs the index" in message


def test_reindex_beside_the_service_is_done_by_it(service: Services, tmp_path: Path) -> None:
    path, n = pairs_file(tmp_path)
    assert runner.invoke(cli, ["import", "pairs", str(path), "--no-discover"]).exit_code == 0
    before = service.store.generation
    workers = BackgroundWorkers(service)
    workers.start()
    try:
        result = runner.invoke(cli, ["reindex"])
    finally:
        workers.stop()
    assert result.exit_code == 0, result.output
    assert "rebuilds it" in result.stderr and result.stdout.strip() == f"reindexed {n} examples"
    assert service.store.generation != before and service.store.count(TENANT) == n
    assert service.matcher.match(TENANT, DEMO_HISTORY[0][0][-1]).reply == DEMO_HISTORY[0][1]


def test_a_second_service_on_the_same_index_says_so_in_one_line(service: Services) -> None:
    result = runner.invoke(cli, ["serve", "--port", "8999"])
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.count("\n") == 0 and "open in another process" in message and "pls serve" in message


def test_index_verify_beside_the_service_is_done_by_it(service: Services, tmp_path: Path) -> None:
    path, n = pairs_file(tmp_path)
    assert runner.invoke(cli, ["import", "pairs", str(path), "--no-discover"]).exit_code == 0
    workers = BackgroundWorkers(service)
    workers.start()
    try:
        verified = runner.invoke(cli, ["index", "verify", "--json"])
        assert verified.exit_code == 0, verified.output
        assert "verifies it" in verified.stderr
        report = json.loads(verified.stdout)
        assert report["ok"] and report["sql_count"] == report["index_count"] == n

        lost = sorted(service.store.example_ids(TENANT))[0]
        service.store.delete([lost])
        differs = runner.invoke(cli, ["index", "verify", "--json"])
        assert differs.exit_code == 1, differs.output
        assert json.loads(differs.stdout)["missing"] == [lost]

        repaired = runner.invoke(cli, ["index", "verify", "--repair"])
        assert repaired.exit_code == 0, repaired.output
        assert "repaired: {'upserted': 1" in repaired.stdout and "index matches SQL" in repaired.stdout
    finally:
        workers.stop()
    assert lost in service.store.example_ids(TENANT)
