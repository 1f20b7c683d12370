"""The HTTP API end to end: learn, match, search, patterns, health, and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.services import Services, build_services
from app.tenants import create_tenant
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_client

DOOR = [
    ("what's the door code for bedford", "The door code for Bedford is 4512."),
    ("bedford door code please", "The door code for Bedford is 4512."),
    ("code to get in at bedford", "The door code for Bedford is 4512."),
    ("i am locked out at bedford", "The door code for Bedford is 4512."),
]
HOURS = [
    ("what are your opening hours", "We're open 7am to 11pm every day."),
    ("when are you open", "We're open 7am to 11pm every day."),
    ("are you open late tonight", "We're open 7am to 11pm every day."),
    ("opening hours on sunday", "We're open 7am to 11pm every day."),
]


@pytest.fixture
def services(settings: Settings, tmp_path: Path, fake_embedder: FakeEmbedder) -> Iterator[Services]:
    built = build_services(
        settings, embedder=fake_embedder, store=EdgeStore(tmp_path / "qdrant", dim=fake_embedder.dim)
    )
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with api_client(services) as test_client:
        yield test_client


def learn_all(client: TestClient, pairs: list[tuple[str, str]], tenant: str = "default") -> list[dict]:
    out = []
    for text, reply in pairs:
        response = client.post("/api/learn", json={"tenant": tenant, "text": text, "reply": reply})
        assert response.status_code == 201, response.text
        out.append(response.json())
    return out


def test_learn_files_identical_replies_under_one_pattern(client: TestClient) -> None:
    learned = learn_all(client, DOOR + HOURS)
    assert len({item["pattern_id"] for item in learned[:4]}) == 1
    assert len({item["pattern_id"] for item in learned}) == 2
    assert learned[0]["new_pattern"] and not learned[1]["new_pattern"]


def test_learn_same_pair_twice_is_a_duplicate(client: TestClient) -> None:
    first = learn_all(client, DOOR[:1])[0]
    again = client.post("/api/learn", json={"text": DOOR[0][0].upper() + "  ", "reply": DOOR[0][1]}).json()
    assert again["duplicate"] and again["example_id"] == first["example_id"]


def test_match_explains_its_decision(client: TestClient) -> None:
    learn_all(client, DOOR + HOURS)
    body = client.post("/api/match", json={"text": "door code for bedford?"}).json()
    assert body["pattern_id"] is not None
    assert body["reply"] == DOOR[0][1]
    assert 0.0 <= body["confidence"] <= 1.0
    assert body["explanation"]["neighbours"], body
    assert {"suggest", "auto"} <= set(body["thresholds"])
    assert body["decision"] in {"auto", "suggest", "shadow", "abstain"}
    assert {"embed", "search", "score", "batch"} <= set(body["stages_ms"])


def test_match_on_empty_memory_abstains(client: TestClient) -> None:
    body = client.post("/api/match", json={"text": "anything at all"}).json()
    assert body["pattern_id"] is None and body["decision"] == "abstain"


def test_search_returns_past_replies(client: TestClient) -> None:
    learn_all(client, DOOR + HOURS)
    hits = client.get("/api/search", params={"q": "opening hours sunday"}).json()
    assert hits[0]["reply"] == HOURS[0][1]
    assert hits[0]["similarity"] >= hits[-1]["similarity"]


def test_patterns_list_and_detail(client: TestClient) -> None:
    learned = learn_all(client, DOOR + HOURS)
    patterns = client.get("/api/patterns").json()
    assert {p["id"] for p in patterns} == {learned[0]["pattern_id"], learned[4]["pattern_id"]}
    detail = client.get(f"/api/patterns/{learned[0]['pattern_id']}").json()
    assert len(detail["examples"]) == 4 and detail["key_facts"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"text": "", "reply": "x"}, "text"),
        ({"text": "   \n ", "reply": "x"}, "text"),
        ({"text": "x" * 4001, "reply": "x"}, "text"),
        ({"text": "hi", "reply": " "}, "reply"),
    ],
)
def test_learn_rejects_bad_text_and_stores_nothing(client: TestClient, payload: dict, field: str) -> None:
    response = client.post("/api/learn", json=payload)
    assert response.status_code == 422
    assert field in response.text
    assert client.get("/api/patterns").json() == []


def test_invalid_utf8_body_is_a_4xx(client: TestClient) -> None:
    response = client.post(
        "/api/learn",
        content=b'{"text": "\xff\xfe", "reply": "x"}',
        headers={"content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert client.get("/api/patterns").json() == []


def test_unknown_tenant_is_404(client: TestClient) -> None:
    for response in (
        client.post("/api/learn", json={"tenant": "nope", "text": "a", "reply": "b"}),
        client.post("/api/match", json={"tenant": "nope", "text": "a"}),
        client.get("/api/search", params={"q": "a", "tenant": "nope"}),
        client.get("/api/patterns", params={"tenant": "nope"}),
    ):
        assert response.status_code == 404, response.text
        assert "nope" in response.text


def test_unknown_pattern_is_404_and_other_tenants_pattern_too(client: TestClient, services: Services) -> None:
    learned = learn_all(client, DOOR[:1])
    assert client.get("/api/patterns/999999").status_code == 404
    create_tenant(services.engine, "other", "Other")
    with api_client(services, tenant="other") as other:
        assert other.get(f"/api/patterns/{learned[0]['pattern_id']}").status_code == 404


def test_tenants_never_see_each_other(client: TestClient, services: Services) -> None:
    create_tenant(services.engine, "other", "Other")
    learn_all(client, DOOR)
    with api_client(services, tenant="other") as other:
        assert other.get("/api/search", params={"q": "bedford door"}).json() == []
        assert other.get("/api/patterns").json() == []
        assert other.post("/api/match", json={"text": "bedford door code"}).json()["pattern_id"] is None
        assert [t["id"] for t in other.get("/api/tenants").json()] == ["other"]
        # Naming the first tenant explicitly does not help: it does not exist for this key.
        assert other.get("/api/patterns", params={"tenant": "default"}).status_code == 404


def test_oversized_body_is_413(client: TestClient) -> None:
    response = client.post(
        "/api/learn", content=b"x" * (300 * 1024), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/learn", "/api/match", "/api/search", "/api/patterns", "/api/patterns/{pattern_id}"} <= set(
        paths
    )
