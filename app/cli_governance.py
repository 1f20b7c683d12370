"""`pls keys`, `pls tenants`, `pls patterns export|import`: administration from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app.config import get_settings
from app.errors import PLSError

keys_cli = typer.Typer(help="API keys: one tenant and one role each.", no_args_is_help=True)
tenants_cli = typer.Typer(help="Tenants: the businesses whose data never mixes.", no_args_is_help=True)
patterns_cli = typer.Typer(help="Move patterns between environments.", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="Tenant (business) id.")]
ACTOR = "cli"


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _engine():  # type: ignore[no-untyped-def]
    from app.db import make_engine, migrate

    engine = make_engine(get_settings().resolved_database_url)
    migrate(engine)
    return engine


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    role: Annotated[str, typer.Option(help="viewer | operator | admin")] = "operator",
    tenant: TenantOpt = "default",
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from app.auth import create_key
    from app.db import session_scope
    from app.governance import audit
    from app.governance.rows import ChangeSet

    engine = _engine()
    try:
        with session_scope(engine) as session:
            row, key = create_key(session, tenant, role, name)
            changes = ChangeSet()
            changes.created(session, row)
            audit.record(session, changes, tenant=tenant, actor=ACTOR, action="create-key",
                         object_type="apikey", object_id=row.id)  # fmt: skip
    except PLSError as error:
        _fail(str(error))
    typer.echo(key)
    typer.echo(f"key {row.id} ({role}) for tenant {tenant}: store it now, it is not shown again", err=True)


@keys_cli.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option("--tenant", "-t")] = None) -> None:
    """List keys (never their secrets)."""
    from sqlmodel import Session

    from app.auth import list_keys

    with Session(_engine()) as session:
        for row in list_keys(session, tenant):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            typer.echo(f"{row.id}\t{row.tenant}\t{row.role}\t{row.name}\tpls_{row.prefix}_…\t{state}")


@keys_cli.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke a key: every request with it is refused from now on."""
    from app.auth import find_key
    from app.db import session_scope
    from app.governance import audit
    from app.governance.rows import ChangeSet
    from app.models import utcnow

    engine = _engine()
    try:
        with session_scope(engine) as session:
            row = find_key(session, key_id)
            changes = ChangeSet()
            changes.track(row)
            row.revoked_at = row.revoked_at or utcnow()
            audit.record(session, changes, tenant=row.tenant, actor=ACTOR, action="revoke-key",
                         object_type="apikey", object_id=key_id)  # fmt: skip
    except PLSError as error:
        _fail(str(error))
    typer.echo(f"key {key_id} revoked")


@tenants_cli.command("create")
def tenants_create(tenant_id: str, name: Annotated[str, typer.Option(help="Display name.")] = "") -> None:
    """Create a tenant."""
    from app.tenants import create_tenant

    try:
        create_tenant(_engine(), tenant_id, name or tenant_id)
    except PLSError as error:
        _fail(str(error))
    typer.echo(f"tenant {tenant_id} created")


@tenants_cli.command("list")
def tenants_list() -> None:
    """List tenants."""
    from app.tenants import list_tenants

    for tenant in list_tenants(_engine()):
        typer.echo(f"{tenant.id}\t{tenant.name}")


@patterns_cli.command("export")
def patterns_export(
    tenant: TenantOpt = "default",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout).")] = None,
) -> None:
    """Write a tenant's patterns and examples as versioned JSON."""
    from sqlmodel import Session

    from app.governance.transfer import export_patterns

    with Session(_engine()) as session:
        text = json.dumps(export_patterns(session, tenant), indent=2, default=str)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"exported to {output}", err=True)


@patterns_cli.command("import")
def patterns_import(
    path: Path,
    tenant: TenantOpt = "default",
    apply: Annotated[bool, typer.Option("--apply", help="Write (default: a dry run).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Take the file's version where they differ.")] = False,
) -> None:
    """Import patterns: a dry run shows what would be added, changed, left and in conflict."""
    from app.cli_services import open_services
    from app.governance.transfer import import_patterns

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        _fail(f"{path}: {error.strerror}")
    except json.JSONDecodeError as error:
        _fail(f"{path}:{error.lineno}: not JSON ({error.msg})")
    services = open_services()
    try:
        outcome = services.governance.run(
            tenant, ACTOR, "import", ("tenant", tenant),
            lambda session, changes: import_patterns(session, changes, tenant, document, author=ACTOR,
                                                     overwrite=overwrite),
            dry_run=not apply,
        )  # fmt: skip
        report: dict[str, Any] = outcome.result
        if apply and report["examples_added"]:
            services.calibration.fit(tenant)
    except PLSError as error:
        _fail(f"{path}: {error}")
    finally:
        services.close()
    summary = {k: (len(v) if isinstance(v, list) else v) for k, v in report.items()}
    typer.echo(
        json.dumps({"dry_run": not apply, **summary, "conflicts_detail": report["conflicts"]}, default=str)
    )
