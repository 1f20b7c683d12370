"""The `pls` command line: eval end to end on the real model, and bad input exits 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.demo import DEMO_HISTORY

runner = CliRunner()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the CLI with every store under tmp_path, but the shared model export and cache."""
    monkeypatch.setenv("PLS_VAR_DIR", str(tmp_path / "var"))
    from app.config import get_settings

    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"text": "hi"', "invalid JSON"),
        (b'{"reply": "x"}', "field 'text'"),
        (b'{"text": "hi", "reply": 3}', "field 'reply'"),
        (b'{"text": "hi", "reply": "ok", "label": 7}', "field 'label'"),
        (b'{"text": "\xff", "reply": "ok"}', "invalid UTF-8"),
        (b'["text"]', "JSON object"),
    ],
)
def test_eval_rejects_a_bad_line_naming_file_and_line(isolated: Path, line: bytes, problem: str) -> None:
    train = isolated / "train.jsonl"
    train.write_bytes(b'{"text": "fine", "reply": "ok"}\n' + line + b"\n")
    test = write_jsonl(isolated / "test.jsonl", [{"text": "x", "reply": None}])
    result = runner.invoke(cli, ["eval", "--train", str(train), "--test", str(test), "--json"])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert message.count("\n") == 0 and f"{train}:2:" in message and problem in message


def test_eval_training_line_needs_a_reply(isolated: Path) -> None:
    train = write_jsonl(isolated / "train.jsonl", [{"text": "hi", "reply": None}])
    result = runner.invoke(cli, ["eval", "--train", str(train), "--test", str(train), "--json"])
    assert result.exit_code == 2 and "train.jsonl:1:" in result.stderr and "reply" in result.stderr


def test_eval_missing_file_exits_2(isolated: Path) -> None:
    result = runner.invoke(cli, ["eval", "--train", str(isolated / "nope.jsonl"), "--test", "x", "--json"])
    assert result.exit_code == 2 and "nope.jsonl" in result.stderr


def test_eval_prints_the_report_schema(isolated: Path) -> None:
    train_rows, test_rows = [], []
    for messages, reply in DEMO_HISTORY:
        label = reply[:20]
        train_rows += [{"text": m, "reply": reply, "label": label} for m in messages[:-1]]
        test_rows.append({"text": messages[-1], "reply": reply, "label": label})
    test_rows.append({"text": "what's the capital of mongolia", "reply": None, "label": None})
    train = write_jsonl(isolated / "train.jsonl", train_rows)
    test = write_jsonl(isolated / "test.jsonl", test_rows)
    result = runner.invoke(cli, ["eval", "--train", str(train), "--test", str(test), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_train"] == len(train_rows) and report["n_test"] == len(test_rows)
    assert report["n_out_of_scope"] == 1 and report["patterns"] == len(DEMO_HISTORY)
    assert set(report["coverage_at_precision"]) == {"0.95", "0.98", "0.99"}
    for key in ("auto", "suggest"):
        assert set(report[key]) == {"threshold", "coverage", "precision"}
    assert set(report["timing"]) == {"learn_s", "match_p50_ms", "match_p99_ms", "embed_p50_ms"}
    assert 0.0 <= report["ece"] <= 1.0 and 0.0 <= report["out_of_scope_abstained"] <= 1.0
    assert not (isolated / "var").exists()  # eval never touches the configured stores


def test_eval_table_is_readable(isolated: Path) -> None:
    rows = [{"text": m, "reply": r} for messages, r in DEMO_HISTORY for m in messages]
    train = write_jsonl(isolated / "train.jsonl", rows)
    result = runner.invoke(cli, ["eval", "--train", str(train), "--test", str(train)])
    assert result.exit_code == 0, result.output
    assert "coverage at precision" in result.stdout and "patterns learned" in result.stdout


def test_regroup_regroups_the_differently_worded_examples_on_demand(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings
    from tests.test_word_grouping import pairs

    messages, replies, _ = pairs(40)
    path = write_jsonl(
        isolated / "pairs.jsonl", [{"text": m, "reply": r} for m, r in zip(messages, replies, strict=True)]
    )
    monkeypatch.setenv("PLS_REGROUP_MIN_EXAMPLES", "100000")  # the import leaves them as learned
    get_settings.cache_clear()
    imported = runner.invoke(cli, ["import", "pairs", str(path), "--no-discover", "--json"])
    assert imported.exit_code == 0 and json.loads(imported.stdout.splitlines()[-1])["regrouped"] is None

    monkeypatch.setenv("PLS_REGROUP_MIN_EXAMPLES", "10")
    get_settings.cache_clear()
    result = runner.invoke(cli, ["regroup", "--json"])
    assert result.exit_code == 0, result.output
    totals = json.loads(result.stdout)
    assert 0 < totals["examples"] <= len(replies) and totals["patterns_after"] >= 1
    assert (totals["moved"] > 0) == (totals["audit_id"] is not None)

    again = runner.invoke(cli, ["regroup"])  # what moved, moved: a second run has nothing to do
    assert again.exit_code == 0 and again.stdout.startswith("nothing regrouped")
