"""Access control: keys, roles, revocation, and tenant scoping on every route."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from app.api.access import PUBLIC
from app.config import Settings
from app.main import create_app
from app.models import ApiKey
from app.services import Services, build_services
from app.tenants import create_tenant
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_client, api_key


@pytest.fixture
def services(settings: Settings, tmp_path: Path, fake_embedder: FakeEmbedder) -> Iterator[Services]:
    built = build_services(
        settings, embedder=fake_embedder, store=EdgeStore(tmp_path / "q", dim=fake_embedder.dim)
    )
    create_tenant(built.engine, "other", "Other")
    yield built
    built.close()


@pytest.fixture
def anonymous(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=services)) as client:
        yield client


def test_keys_are_stored_hashed(services: Services) -> None:
    key = api_key(services.engine, "default", "viewer")
    from sqlmodel import Session, select

    with Session(services.engine) as session:
        row = session.exec(select(ApiKey)).one()
    assert key not in (row.secret_hash, row.prefix) and len(row.secret_hash) == 64
    assert key.startswith(f"pls_{row.prefix}_")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Bearer pls_abcdef123456_wrong"},
        {"X-API-Key": "x"},
    ],
)
def test_missing_or_unknown_key_is_401(anonymous: TestClient, headers: dict) -> None:
    response = anonymous.get("/api/patterns", headers=headers)
    assert response.status_code == 401 and "key" in response.json()["detail"]


def test_revoked_key_is_401(services: Services, anonymous: TestClient) -> None:
    with api_client(services) as admin:
        created = admin.post("/api/keys", json={"name": "till", "role": "operator"}).json()
        headers = {"X-API-Key": created["key"]}
        assert anonymous.get("/api/patterns", headers=headers).status_code == 200
        assert admin.delete(f"/api/keys/{created['id']}").status_code == 200
        assert "hash" not in str(admin.get("/api/keys").json())
    response = anonymous.get("/api/patterns", headers=headers)
    assert response.status_code == 401 and "revoked" in response.text


def test_roles_limit_what_a_key_may_do(services: Services) -> None:
    with api_client(services, role="viewer") as viewer:
        assert viewer.get("/api/patterns").status_code == 200
        assert viewer.post("/api/learn", json={"text": "hi", "reply": "hello"}).status_code == 403
    with api_client(services, role="operator") as operator:
        assert operator.post("/api/learn", json={"text": "hi", "reply": "hello"}).status_code == 201
        assert operator.get("/api/audit").status_code == 403
        assert operator.post("/api/keys", json={"name": "x"}).status_code == 403


def test_webhooks_and_health_need_no_key(anonymous: TestClient) -> None:
    assert anonymous.get("/healthz").status_code == 200
    response = anonymous.post("/webhooks/openphone", json={})
    assert response.status_code == 401 and "signature" in response.text  # a signature, not a key


def _sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _routes(app: object) -> Iterator[tuple[str, set[str], object]]:
    """(path, methods, route) of every route, including those of included routers."""
    for route in app.routes:  # type: ignore[attr-defined]
        if hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                yield context.path, set(context.methods or ()), context.original_route
        else:
            yield route.path, set(getattr(route, "methods", None) or ()), route


def test_every_route_needs_a_key_and_refuses_another_tenant(
    services: Services, anonymous: TestClient
) -> None:
    """Enumerates the app's routes, so a new route that skips the gate fails here."""
    checked = 0
    with api_client(services, tenant="other") as other:
        for path, methods, route in _routes(anonymous.app):
            if PUBLIC.match(path):
                continue
            if isinstance(route, APIWebSocketRoute):
                with pytest.raises(WebSocketDisconnect), anonymous.websocket_connect(_sample_path(path)) as ws:
                    ws.receive_json()
                checked += 1
                continue
            assert isinstance(route, APIRoute), path
            for method in methods - {"HEAD", "OPTIONS"}:
                assert anonymous.request(method, _sample_path(path)).status_code == 401, (method, path)
                response = other.request(method, _sample_path(path), params={"tenant": "default"})
                assert response.status_code == 404, (method, path, response.text)
                checked += 1
    assert checked > 30


def test_body_naming_another_tenant_is_404_and_stores_nothing(services: Services) -> None:
    with api_client(services, tenant="other") as other:
        response = other.post("/api/learn", json={"tenant": "default", "text": "hi", "reply": "hello"})
        assert response.status_code == 404
    with api_client(services) as default:
        assert default.get("/api/patterns").json() == []


def test_keys_cli_creates_lists_and_revokes(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli import cli
    from app.config import get_settings

    monkeypatch.setenv("PLS_VAR_DIR", str(settings.var_dir))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(cli, ["keys", "create", "--name", "ops", "--role", "admin"])
        assert created.exit_code == 0, created.output
        key = created.stdout.strip().splitlines()[0]
        assert key.startswith("pls_")
        listed = runner.invoke(cli, ["keys", "list"])
        assert "ops" in listed.stdout and key not in listed.stdout
        assert runner.invoke(cli, ["keys", "revoke", "1"]).exit_code == 0
        assert "revoked" in runner.invoke(cli, ["keys", "list"]).stdout
        bad = runner.invoke(cli, ["keys", "create", "--name", "x", "--role", "root"])
        assert bad.exit_code == 2 and "role" in bad.output
    finally:
        get_settings.cache_clear()
