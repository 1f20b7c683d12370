"""The `pls` command: serve, learn, match, search, calibrate, reindex, eval, bench, demo, model."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli_governance import keys_cli, patterns_cli, tenants_cli
from app.cli_history import discover, import_cli, index_cli, regroup
from app.cli_privacy import purge
from app.cli_services import open_services
from app.config import get_settings
from app.errors import PLSError

os.environ.setdefault("HF_HUB_OFFLINE", "1")

cli = typer.Typer(help="PLS: the pattern learning service.", no_args_is_help=True, add_completion=False)
model_cli = typer.Typer(help="The embedding model.", no_args_is_help=True)
cli.add_typer(model_cli, name="model")
cli.add_typer(import_cli, name="import")
cli.add_typer(index_cli, name="index")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(tenants_cli, name="tenants")
cli.add_typer(patterns_cli, name="patterns")
cli.command()(discover)
cli.command()(regroup)
cli.command()(purge)

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="Tenant (business) id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def fail(message: str) -> None:
    """One line on stderr and exit code 2: the caller's input is wrong."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Run the HTTP service (API docs at /docs)."""
    import uvicorn

    from app.main import create_app
    from indexer.edge_files import held_elsewhere

    settings = get_settings()
    if not settings.qdrant_url and held_elsewhere(settings.resolved_qdrant_path):
        typer.echo(
            f"error: the vector index under {settings.resolved_qdrant_path} is open in another process,"
            " such as another `pls serve`: one service holds an embedded index (with PLS_QDRANT_URL,"
            " replicas share a Qdrant server)",
            err=True,
        )
        raise typer.Exit(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port)


@cli.command()
def learn(
    text: Annotated[str, typer.Argument(help="The customer's message.")],
    reply: Annotated[str, typer.Argument(help="The operator's reply.")],
    tenant: TenantOpt = "default",
) -> None:
    """Learn one customer message and the reply it got."""
    from app.learning.learner import Interaction

    services = open_services()
    try:
        learned = services.learner.learn(tenant, Interaction(text=text, reply=reply))
    except PLSError as error:
        fail(str(error))
    finally:
        services.close()
    typer.echo(json.dumps(learned.__dict__))


@cli.command()
def match(
    text: Annotated[str, typer.Argument(help="A customer message.")],
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Match a message: pattern, confidence, decision and the neighbours behind it."""
    services = open_services()
    try:
        result = services.matcher.match(tenant, text, record=False)
    except PLSError as error:
        fail(str(error))
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), default=str))
        return
    typer.echo(f"decision:   {result.decision} ({result.reason})")
    typer.echo(f"confidence: {result.confidence:.3f}  thresholds: {result.thresholds}")
    if result.reply:
        typer.echo(f"pattern {result.pattern_id}: {result.reply}")


@cli.command()
def search(
    query: Annotated[str, typer.Argument(help="A customer message, or any text.")],
    tenant: TenantOpt = "default",
    limit: Annotated[int, typer.Option(help="How many results.")] = 5,
) -> None:
    """How did we answer this before?"""
    services = open_services()
    try:
        hits = services.search.search(tenant, query, limit)
    except PLSError as error:
        fail(str(error))
    finally:
        services.close()
    for hit in hits:
        typer.echo(f"{hit.similarity:.3f}  {hit.text!r}\n       -> {hit.reply!r}")


@cli.command()
def calibrate(tenant: TenantOpt = "default") -> None:
    """Refit the confidence calibration and thresholds from what was learned."""
    services = open_services()
    try:
        summary = services.calibration.fit(tenant)
    except PLSError as error:
        fail(str(error))
    finally:
        services.close()
    typer.echo(json.dumps(summary, default=str))


@cli.command()
def reindex(
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over instead of resuming.")] = False,
) -> None:
    """Rebuild the vector index from SQL into a fresh collection, then switch over (resumable).

    Beside a running service that holds the embedded index, the service does the rebuild.
    """
    from app.index_requests import NotDoneByHolder, patience, reindex_through_holder
    from app.reindex import reindex_all

    services = open_services(note=False)

    def say(line: str) -> None:
        typer.echo(line, err=True)

    try:
        if services.store.held_elsewhere:
            count = reindex_through_holder(services.engine, fresh, say=say, **patience(services.settings))
        else:
            count = reindex_all(services, progress=sys.stderr.isatty(), fresh=fresh, log_line=say)
    except NotDoneByHolder as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        services.close()
    typer.echo(f"reindexed {count} examples")


@cli.command(name="eval")
def evaluate(
    train: Annotated[Path, typer.Option(help="Training pairs (JSONL: text, reply, label).")],
    test: Annotated[Path, typer.Option(help="Test messages (JSONL: text, reply|null, label|null).")],
    as_json: JsonOpt = False,
) -> None:
    """Learn TRAIN on fresh temporary stores, match TEST, print precision/coverage/calibration."""
    from app.evaluation.dataset import DatasetError, read_pairs
    from app.evaluation.report import render_table
    from app.evaluation.runner import run_eval

    try:
        train_pairs = read_pairs(train, require_reply=True)
        test_pairs = read_pairs(test, require_reply=False)
    except DatasetError as error:
        fail(str(error))
    report = run_eval(train_pairs, test_pairs, get_settings(), progress=not as_json and sys.stderr.isatty())
    typer.echo(json.dumps(report) if as_json else render_table(report))


@cli.command()
def bench(
    n: Annotated[int, typer.Option("--n", help="Examples to index.")] = 100_000,
    as_json: JsonOpt = False,
    queries: Annotated[int, typer.Option(help="Matches timed per measurement.")] = 400,
) -> None:
    """Index N realistic examples and time embedding, matching, and concurrent matching."""
    from app.evaluation.bench import run_bench

    report = run_bench(n, get_settings(), queries=queries, log=None if as_json else typer.echo)
    typer.echo(json.dumps(report) if as_json else json.dumps(report, indent=2))


@cli.command()
def demo(
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Only when nothing was learned yet.")] = False,
) -> None:
    """Load a small demo history (a golf-simulator business) and calibrate."""
    from app.demo import demo_key, load_demo

    services = open_services(needs_the_index=True)
    try:
        typer.echo(load_demo(services, only_if_empty=if_empty))
        key, path = demo_key(services)
        typer.echo(f"demo API key (admin, tenant default): {key}  (kept in {path})")
    finally:
        services.close()


@cli.command()
def wait() -> None:
    """Wait until the database and the vector store answer (for container start-up)."""
    from app.readiness import wait_for_dependencies

    settings = get_settings()
    problem = wait_for_dependencies(settings)
    if problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(1)
    typer.echo("database and vector store are ready")


@model_cli.command("export")
def model_export() -> None:
    """Export the bundled model to ONNX for serving (done once; later runs reuse it)."""
    from embeddings.onnx import ensure_onnx_model

    path = ensure_onnx_model(get_settings().onnx_dir)
    typer.echo(f"ONNX model ready at {path}")


def main() -> None:
    """Entry point of the `pls` console script."""
    cli()
