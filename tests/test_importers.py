"""History import: idempotent, resumable after a crash, bad lines skipped, bad examples voided."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlmodel import Session, select

from app.cli_history import print_summary
from app.config import Settings
from app.importers.pairs import KIND, line_count, pair_records
from app.importers.progress import Progress
from app.importers.runner import run_import
from app.importers.runs import ImportSummary, file_fingerprint
from app.learning.learner import Interaction
from app.learning.refiling import Refiled
from app.models import Example, ExampleStatus, ImportRun
from app.services import Services, build_services
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder

GOOD = [
    ("what's the door code for bedford?", "The door code for Bedford is 4512. Enjoy!"),
    ("bedford door code pls", "The door code for Bedford is 4512. Enjoy!"),
    ("when are you open", "We're open every day from 7am to 11pm."),
    ("what time do you close tonight", "We're open every day from 7am to 11pm."),
    ("how much per hour", "A bay is $45 per hour, up to 4 players."),
    ("price for a bay?", "A bay is $45 per hour, up to 4 players."),
    ("sim froze on bay 2", "Hold the power button on the PC for 10 seconds, then restart it."),
    ("my screen is frozen", "Hold the power button on the PC for 10 seconds, then restart it."),
    ("do you sell gift cards", "Yes, gift cards in any amount at golfsim.example/gift"),
    ("gift voucher for my dad?", "Yes, gift cards in any amount at golfsim.example/gift"),
    ("I left my jacket in bay 3", "We keep lost items at the front desk for 30 days."),
    ("lost my keys there yesterday", "We keep lost items at the front desk for 30 days."),
]


class CrashingEmbedder(FakeEmbedder):
    """Fails (like a killed process would stop) once `crash_after` embed calls were made."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_after: int | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.crash_after is not None:
            if self.crash_after == 0:
                raise KeyboardInterrupt("killed mid-import")
            self.crash_after -= 1
        return super().embed(texts)


@pytest.fixture
def services(settings: Settings, tmp_path: Path) -> Iterator[Services]:
    embedder = CrashingEmbedder()
    built = build_services(settings, embedder=embedder, store=EdgeStore(tmp_path / "q", dim=embedder.dim))
    yield built
    built.close()


def write_pairs(path: Path, pairs: Sequence[tuple[str, str]], extra: Sequence[bytes] = ()) -> Path:
    lines = [json.dumps({"text": t, "reply": r}).encode() for t, r in pairs]
    path.write_bytes(b"\n".join(lines + list(extra)) + b"\n")
    return path


def import_file(
    services: Services, path: Path, errors: list[str] | None = None, chunk: int = 4
) -> ImportSummary:
    data = path.read_bytes()
    return run_import(
        services,
        tenant="default",
        kind=KIND,
        path=str(path),
        fingerprint=file_fingerprint(data, KIND),
        records=pair_records(path, data, 4000),
        total=line_count(data),
        on_error=(lambda loc, msg: errors.append(f"{loc}: {msg}")) if errors is not None else None,
        discover=False,
        chunk=chunk,
    )


def examples(services: Services) -> list[Example]:
    with Session(services.engine) as session:
        return list(session.exec(select(Example).order_by(Example.id)).all())  # type: ignore[arg-type]


def test_reimporting_the_same_file_adds_nothing(services: Services, tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.jsonl", GOOD)
    first = import_file(services, path)
    assert (first.read, first.learned, first.duplicates) == (len(GOOD), len(GOOD), 0)
    before = [(e.id, e.pattern_id, e.status) for e in examples(services)]
    second = import_file(services, path)
    assert (second.learned, second.duplicates, second.voided) == (0, len(GOOD), 0)
    assert [(e.id, e.pattern_id, e.status) for e in examples(services)] == before
    assert services.store.count("default") == len(GOOD)


def test_a_bad_line_is_reported_with_file_and_line_and_skipped(services: Services, tmp_path: Path) -> None:
    path = write_pairs(
        tmp_path / "pairs.jsonl",
        GOOD[:3],
        extra=[b"not json", b'{"text": "hi"}', b'{"text": "   ", "reply": "Fine answer here."}', b"\xff"],
    )
    path.write_bytes(
        path.read_bytes() + json.dumps({"text": GOOD[3][0], "reply": GOOD[3][1]}).encode() + b"\n"
    )
    errors: list[str] = []
    summary = import_file(services, path, errors)
    assert errors == [
        f"{path}:4: invalid JSON: Expecting value (column 1)",
        f"{path}:5: field 'reply' is required in a training file",
        f"{path}:6: field 'text' must be a non-empty string",
        f"{path}:7: invalid UTF-8 at byte 0",
    ]
    # The line after the bad ones was still learned.
    assert (summary.learned, summary.error_count, summary.read) == (4, 4, 8)
    assert GOOD[3][0] in {e.text for e in examples(services)}


def test_a_killed_import_resumes_where_it_stopped(services: Services, tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.jsonl", GOOD)
    embedder: CrashingEmbedder = services.embedder  # type: ignore[assignment]
    embedder.crash_after = 2  # two chunks of 4 get through, the third dies
    with pytest.raises(KeyboardInterrupt):
        import_file(services, path)
    with Session(services.engine) as session:
        run = session.exec(select(ImportRun)).one()
    assert (run.status, run.position) == ("running", 8)
    assert len(examples(services)) == 8

    embedder.crash_after = None
    learned_texts: list[str] = []
    learn_many = services.learner.learn_many

    def spy(tenant: str, interactions: Sequence[Interaction], **kwargs: Any) -> Any:
        learned_texts.extend(i.text for i in interactions)
        return learn_many(tenant, interactions, **kwargs)

    services.learner.learn_many = spy  # type: ignore[method-assign]
    summary = import_file(services, path)
    assert summary.resumed_from == 8 and summary.run_id == run.id
    # Only the rest was read again; the totals cover the whole file.
    assert learned_texts == [text for text, _ in GOOD[8:]]
    assert (summary.read, summary.learned, summary.duplicates) == (len(GOOD), len(GOOD), 0)
    assert len(examples(services)) == len(GOOD)
    with Session(services.engine) as session:
        assert [r.status for r in session.exec(select(ImportRun)).all()] == ["done"]


def test_low_quality_examples_are_voided_and_never_matched(services: Services, tmp_path: Path) -> None:
    bad = [
        ("test", "testing 123"),
        ("are you open on sunday", "ok"),
        ("what are your hours", "None of your damn business, figure it out"),
    ]
    path = write_pairs(tmp_path / "pairs.jsonl", GOOD + bad)
    summary = import_file(services, path)
    assert summary.voided == 3
    assert summary.void_reasons == {
        "test message": 1,
        "reply too short to be an answer": 1,
        "profanity in reply": 1,
    }
    voided = {e.text: e for e in examples(services) if e.status == ExampleStatus.voided}
    assert set(voided) == {t for t, _ in bad}
    assert all(e.quality < services.settings.void_below and e.void_reason for e in voided.values())
    # The index mirrors SQL (voided payload) and searches never return voided points...
    ids = [e.id for e in voided.values() if e.id is not None]
    assert {p.status for p in services.store.retrieve(ids)} == {"voided"}
    for text in voided:
        hits = services.store.search(services.embedder.embed_one(text), "default", 50)
        assert not {h.example_id for h in hits} & set(ids)
    # ...nor does the matcher, whose pattern statistics count only usable examples.
    result = services.matcher.match("default", "what are your hours", record=False)
    assert not {n["example_id"] for n in result.explanation.get("neighbours", [])} & set(ids)
    memory = services.memories.get("default")
    assert sum(state.support for state in memory.patterns.values()) == len(GOOD)
    # Re-importing reports them as known, not voided again.
    again = import_file(services, path)
    assert (again.voided, again.duplicates) == (0, len(GOOD) + len(bad))


def test_progress_without_a_terminal_logs_rate_and_eta() -> None:
    lines: list[str] = []
    progress = Progress("import pairs", 100, tty=False, log=lines.append, every_s=0.0)
    progress.advance(25)
    progress.close()
    assert lines[0].startswith("import pairs: 25/100 (25%), ")
    assert "/s, ETA " in lines[0]


def test_a_finished_import_leaves_no_point_outside_the_search_graph(
    settings: Settings, tmp_path: Path
) -> None:
    from indexer import EdgeTuning, optimize_in_process

    embedder = FakeEmbedder()
    # A graph from 10 KB of vectors, so this small file is a bulk load worth building for.
    tuning = EdgeTuning(indexing_threshold_kb=10, full_scan_threshold_kb=10, payload_m=8, ef_construct=32)
    store = EdgeStore(tmp_path / "q", dim=embedder.dim, tuning=tuning, optimizer=optimize_in_process)
    built = build_services(settings, embedder=embedder, store=store)
    try:
        pairs = [
            (f"question number {i} about topic {i % 7}", f"answer for topic {i % 7}") for i in range(120)
        ]
        summary = import_file(built, write_pairs(tmp_path / "pairs.jsonl", pairs), chunk=50)
        assert summary.learned == 120
        assert store.count("default") == 120 and store.unindexed_points() == 0
    finally:
        built.close()


def test_an_import_finishes_by_regrouping_differently_worded_replies_and_says_so(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    def regroup(services: Services, tenant: str) -> Refiled:
        calls.append(tenant)
        return Refiled(
            examples=12, patterns_before=6, patterns_after=5, moved={3: [1, 2], 4: [7]}, audit_id=9
        )

    monkeypatch.setattr("app.importers.runner.regroup_after_import", regroup)
    summary = import_file(services, write_pairs(tmp_path / "pairs.jsonl", GOOD)).as_dict()

    assert calls == ["default"]
    assert summary["regrouped"] == {
        "examples": 12,
        "patterns_before": 6,
        "patterns_after": 5,
        "moved": 3,
        "audit_id": 9,
        "up_to_date_since": None,
    }
    print_summary(summary, as_json=False)
    assert (
        "regrouped 12 differently worded examples by their words: 6 patterns -> 5, 3 moved "
        "(undo: POST /api/audit/9/revert)" in capsys.readouterr().out
    )
