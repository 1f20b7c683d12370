"""`pls import ...`, `pls discover` and `pls index ...`: history and index maintenance commands."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from app.cli_services import open_services
from app.errors import PLSError

import_cli = typer.Typer(help="Import a history of conversations.", no_args_is_help=True)
index_cli = typer.Typer(help="The vector index.", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="Tenant (business) id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
NoDiscoverOpt = Annotated[
    bool, typer.Option("--no-discover", help="Skip pattern discovery after the import.")
]


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit code 2: the caller's input is wrong."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        _fail(f"{path}:0: cannot read file: {error.strerror}")


def _progress(desc: str, total: int | None, initial: int):  # type: ignore[no-untyped-def]
    from app.importers.progress import Progress

    return Progress(
        desc, total, tty=sys.stderr.isatty(), log=lambda line: typer.echo(line, err=True), initial=initial
    )


def _report_error(location: str, message: str) -> None:
    typer.echo(f"{location}: {message}", err=True)


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    """An import's totals: one JSON object, or lines for a person."""
    if as_json:
        typer.echo(json.dumps(summary, default=str))
        return
    resumed = f" (resumed after record {summary['resumed_from']})" if summary["resumed_from"] else ""
    typer.echo(f"import run {summary['run_id']}{resumed}")
    typer.echo(
        f"read {summary['read']}, learned {summary['learned']}, duplicates {summary['duplicates']}, "
        f"voided {summary['voided']}, skipped {summary['skipped']}, errors {summary['errors']}"
    )
    for reason, count in summary["void_reasons"].items():
        typer.echo(f"  voided {count}: {reason}")
    if summary["regrouped"]:
        typer.echo(regrouped_line(summary["regrouped"]))
    if summary["candidates"] is not None:
        typer.echo(f"{summary['candidates']} candidate patterns discovered (pls discover --list)")


def _finish(summary: Any, as_json: bool) -> None:
    data = summary.as_dict()
    print_summary(data, as_json)
    if data["errors"] and data["read"] == data["errors"]:
        _fail(f"nothing importable; first problem: {data['error_lines'][0]}")


@import_cli.command("pairs")
def import_pairs(
    path: Annotated[Path, typer.Argument(help='JSONL of {"text", "reply"} lines (the pls eval format).')],
    tenant: TenantOpt = "default",
    no_discover: NoDiscoverOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Learn customer messages and the replies they got; safe to re-run and to interrupt."""
    from app.importers.pairs import KIND, line_count, pair_records
    from app.importers.runner import run_import
    from app.importers.runs import file_fingerprint

    data = _read(path)
    services = open_services()
    try:
        summary = run_import(
            services,
            tenant=tenant,
            kind=KIND,
            path=str(path),
            fingerprint=file_fingerprint(data, KIND),
            records=pair_records(path, data, services.settings.max_text_chars),
            total=line_count(data),
            progress=_progress,
            on_error=_report_error,
            discover=not no_discover,
        )
    except PLSError as error:
        _fail(str(error))
    finally:
        services.close()
    _finish(summary, as_json)


@import_cli.command("openphone")
def import_openphone(
    path: Annotated[Path, typer.Argument(help="OpenPhone messages: JSONL of message objects, or CSV.")],
    tenant: TenantOpt = "default",
    since: Annotated[
        datetime | None, typer.Option(help="Only messages from this date/time on (UTC).")
    ] = None,
    days: Annotated[int | None, typer.Option(min=1, help="Only the last N days.")] = None,
    no_discover: NoDiscoverOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild conversations from a message export and learn each answered customer turn."""
    from app.importers.openphone import KIND, openphone_records
    from app.importers.runner import run_import
    from app.importers.runs import file_fingerprint

    if since is not None and days is not None:
        _fail("--since and --days: give one of them")
    cutoff = since.replace(tzinfo=since.tzinfo or UTC) if since else None
    if days is not None:
        # Whole days, so a resumed run started yesterday still recognises its own file.
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        cutoff = today - timedelta(days=days)
    data = _read(path)
    services = open_services()
    try:
        records = openphone_records(path, data, since=cutoff)
        summary = run_import(
            services,
            tenant=tenant,
            kind=KIND,
            path=str(path),
            fingerprint=file_fingerprint(data, KIND, cutoff.isoformat() if cutoff else ""),
            records=records,
            total=records[-1].position if records else 0,
            progress=_progress,
            on_error=_report_error,
            discover=not no_discover,
        )
    except PLSError as error:
        _fail(str(error))
    finally:
        services.close()
    _finish(summary, as_json)


def regrouped_line(totals: dict[str, Any]) -> str:
    """One line on what a regrouping did, and how to undo it."""
    return (
        f"regrouped {totals['examples']} differently worded examples by their words: "
        f"{totals['patterns_before']} patterns -> {totals['patterns_after']}, {totals['moved']} moved "
        f"(undo: POST /api/audit/{totals['audit_id']}/revert)"
    )


def regroup(tenant: TenantOpt = "default", as_json: JsonOpt = False) -> None:
    """Regroup the examples whose replies are all worded differently by their words, as an import
    does when it finishes, and refit calibration if anything moved."""
    from app.learning.refiling import regroup_after_import

    services = open_services()
    settings = services.settings
    try:
        refiled = regroup_after_import(services, tenant)
        if refiled.moved:
            services.calibration.fit(tenant)
    except PLSError as error:
        _fail(str(error))
    finally:
        services.close()
    totals = refiled.totals()
    if as_json:
        typer.echo(json.dumps(totals))
    elif refiled.moved:
        typer.echo(regrouped_line(totals))
    elif refiled.up_to_date_since is not None:
        typer.echo(
            f"nothing regrouped: nothing learned since the regrouping of audit event {refiled.up_to_date_since}"
        )
    else:
        typer.echo(
            f"nothing regrouped: {refiled.examples} differently worded examples in candidate patterns "
            f"(regrouped between {settings.regroup_min_examples} and {settings.regroup_max_examples}, "
            "when spread over two patterns or more)"
        )


def discover(
    tenant: TenantOpt = "default",
    list_only: Annotated[
        bool, typer.Option("--list", help="Show the stored candidates, do not rerun.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Group learned examples by meaning into candidate patterns ("you answer this N times a day")."""
    from app.learning.discovery import discover_and_store, list_candidates

    services = open_services()
    try:
        if not list_only:
            discover_and_store(services, tenant)
        candidates = list_candidates(services, tenant)
    except PLSError as error:
        _fail(str(error))
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps(candidates, default=str))
        return
    typer.echo(f"{len(candidates)} candidate patterns")
    for c in candidates:
        reply = " ".join(c["reply"].split())
        typer.echo(f"#{c['id']}  {c['size']} examples, {c['per_day']}/day  -> {reply[:100]}")
        for example in c["examples"][:3]:
            typer.echo(f"      {example['text'][:90]!r}")


@index_cli.command("verify")
def index_verify(
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix what differs (upsert, delete, or reindex).")
    ] = False,
    sample: Annotated[
        int | None, typer.Option(min=0, help="Points whose payload and vector are compared.")
    ] = None,
    all_payloads: Annotated[bool, typer.Option("--all", help="Compare the payload of every point.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compare SQL and the vector index: counts, ids, payloads and a sample of vectors.

    Exits 1 when something differs (after --repair: when something still differs).
    """
    from app.index_check import VerifyOptions, verify_and_repair
    from app.index_requests import NotDoneByHolder, patience, verify_through_holder

    services = open_services(note=False)
    size = services.settings.verify_sample if sample is None else sample
    options = VerifyOptions(sample=size, payloads="all" if all_payloads else "sample", repair=repair)
    try:
        if services.store.held_elsewhere:
            say = partial(typer.echo, err=True)
            data = verify_through_holder(services.engine, options, say=say, **patience(services.settings))
        else:
            data = verify_and_repair(services, options).as_dict()
    except NotDoneByHolder as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps(data, default=str))
    else:
        typer.echo(f"SQL examples {data['sql_count']}, index points {data['index_count']}")
        for tenant, counts in data["tenants"].items():
            typer.echo(f"  {tenant}: SQL {counts['sql']}, index {counts['index']}")
        if data["model_changed"]:
            typer.echo(f"index built with {data['index_model']}, configured {data['model']}: reindex needed")
        for key in ("missing", "extra", "payload_mismatch", "vector_mismatch"):
            if data[f"{key}_count"]:
                typer.echo(f"{key.replace('_', ' ')}: {data[f'{key}_count']} (e.g. {data[key][:5]})")
        typer.echo(
            f"checked {data['payloads_checked']} payloads, {data['vectors_checked']} vectors; "
            f"{data['pending_outbox']} index writes pending"
        )
        if data["repaired"]:
            typer.echo(f"repaired: {data['repaired']}")
        typer.echo("index matches SQL" if data["ok"] else "index differs from SQL")
    if not data["ok"]:
        raise typer.Exit(1)
