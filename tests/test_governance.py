"""Governance over HTTP: versions and rollback, audit and revert, curation with dry runs,
the approval queue, and export/import between environments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.config import Settings
from app.learning.learner import Interaction
from app.models import Example
from app.services import Services, build_services
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder, api_client

TOPICS = {
    "The door code for Bedford is 4512.": [
        "door code bedford",
        "bedford door locked code",
        "code to get in bedford",
    ],
    "We're open 7am to 11pm.": ["opening hours", "when are you open", "what hours are you open today"],
    "Bays are $45 per hour.": ["how much per hour", "price of a bay per hour", "hourly price bay"],
    "Refunds take 5 business days.": ["refund please", "i want a refund", "refund for my booking"],
    "Gift cards are sold online.": ["gift card", "buy a gift card", "gift card for dad"],
}
PROBES = [
    "bedford door code",
    "are you open now",
    "hourly bay price",
    "refund my booking",
    "gift card please",
]


def build(settings: Settings, root: Path) -> Services:
    return build_services(
        settings, embedder=FakeEmbedder(), store=EdgeStore(root / "qdrant", dim=FakeEmbedder.dim)
    )


@pytest.fixture
def services(settings: Settings, tmp_path: Path) -> Iterator[Services]:
    built = build(settings, tmp_path)
    pairs = [Interaction(text, reply) for reply, texts in TOPICS.items() for text in texts]
    built.learner.learn_many("default", pairs)
    built.calibration.fit("default")
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with api_client(services) as test_client:
        yield test_client


def pattern_of(client: TestClient, reply: str) -> dict:
    return next(p for p in client.get("/api/patterns").json() if p["response_text"] == reply)


DOOR = "The door code for Bedford is 4512."
HOURS = "We're open 7am to 11pm."


def test_edit_makes_a_version_and_rollback_restores_it(client: TestClient) -> None:
    door = pattern_of(client, DOOR)
    edited = client.patch(
        f"/api/patterns/{door['id']}",
        json={"response_text": "Bedford's door code is 4512.", "expected_version": 1, "reason": "friendlier"},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["pattern"]["version"] == 2
    versions = client.get(f"/api/patterns/{door['id']}/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["reason"] == "friendlier" and versions[0]["author"].startswith("key:")
    diff = client.get(f"/api/patterns/{door['id']}/diff", params={"a": 1, "b": 2}).json()
    assert diff["fields"]["response_text"] == {"from": DOOR, "to": "Bedford's door code is 4512."}
    assert any(line.startswith("+Bedford") for line in diff["response_diff"])

    back = client.post(f"/api/patterns/{door['id']}/rollback", json={"version": 1})
    assert back.status_code == 200, back.text
    assert back.json()["pattern"]["version"] == 3
    assert back.json()["pattern"]["response_text"] == DOOR
    assert client.post("/api/match", json={"text": "bedford door code"}).json()["reply"] == DOOR


def test_stale_version_is_409_with_the_current_version(client: TestClient) -> None:
    door = pattern_of(client, DOOR)
    assert (
        client.patch(
            f"/api/patterns/{door['id']}", json={"mode": "suggest", "expected_version": 1}
        ).status_code
        == 200
    )
    stale = client.patch(f"/api/patterns/{door['id']}", json={"mode": "auto", "expected_version": 1})
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    assert pattern_of(client, DOOR)["mode"] == "suggest"


def test_unknown_placeholder_is_422_naming_it_and_nothing_changes(client: TestClient) -> None:
    door = pattern_of(client, DOOR)
    response = client.patch(f"/api/patterns/{door['id']}", json={"response_text": "Hi {customer_shoe_size}"})
    assert response.status_code == 422
    assert "customer_shoe_size" in response.text
    assert pattern_of(client, DOOR)["version"] == 1


def test_audit_records_before_and_after_and_revert_restores(client: TestClient) -> None:
    door = pattern_of(client, DOOR)
    client.patch(f"/api/patterns/{door['id']}", json={"mode": "auto", "reason": "earned it"})
    events = client.get("/api/audit", params={"object_type": "pattern", "object_id": str(door["id"])}).json()
    assert events[0]["action"] == "edit" and events[0]["reason"] == "earned it"
    key = str(door["id"])
    assert events[0]["before"]["pattern"][key]["mode"] == "shadow"
    assert events[0]["after"]["pattern"][key]["mode"] == "auto"

    reverted = client.post(f"/api/audit/{events[0]['id']}/revert")
    assert reverted.status_code == 200, reverted.text
    assert pattern_of(client, DOOR)["mode"] == "shadow"
    assert client.post(f"/api/audit/{events[0]['id']}/revert").status_code == 409  # already reverted
    # The revert is itself audited, and can be reverted in turn.
    latest = client.get("/api/audit").json()[0]
    assert latest["action"] == "revert" and latest["reverts"] == events[0]["id"]
    assert client.post(f"/api/audit/{latest['id']}/revert").status_code == 200
    assert pattern_of(client, DOOR)["mode"] == "auto"


def test_revert_refuses_when_the_object_changed_since(client: TestClient) -> None:
    door = pattern_of(client, DOOR)
    client.patch(f"/api/patterns/{door['id']}", json={"mode": "suggest"})
    first = client.get("/api/audit").json()[0]["id"]
    client.patch(f"/api/patterns/{door['id']}", json={"mode": "auto"})
    response = client.post(f"/api/audit/{first}/revert")
    assert response.status_code == 409 and "revert the later change first" in response.text
    assert pattern_of(client, DOOR)["mode"] == "auto"


def test_move_dry_run_shows_turned_decisions_and_writes_nothing(
    client: TestClient, services: Services
) -> None:
    for text in PROBES:
        client.post("/api/match", json={"text": text})
    services.decisions.flush()
    door, hours = pattern_of(client, DOOR), pattern_of(client, HOURS)
    detail = client.get(f"/api/patterns/{door['id']}").json()
    ids = [e["id"] for e in detail["examples"]]
    dry = client.post(
        "/api/examples/move", json={"example_ids": ids, "pattern_id": hours["id"], "dry_run": True}
    )
    assert dry.status_code == 200, dry.text
    turned = dry.json()["decisions_changed"]
    assert any(d["text"] == "bedford door code" and d["after"]["pattern_id"] == hours["id"] for d in turned)
    assert dry.json()["audit_id"] is None
    assert len(client.get(f"/api/patterns/{door['id']}").json()["examples"]) == 3  # nothing written

    done = client.post("/api/examples/move", json={"example_ids": ids, "pattern_id": hours["id"]})
    assert done.status_code == 200 and done.json()["audit_id"]
    assert client.get(f"/api/patterns/{door['id']}").json()["example_count"] == 0
    assert client.post("/api/match", json={"text": "bedford door code"}).json()["pattern_id"] != door["id"]
    client.post(f"/api/audit/{done.json()['audit_id']}/revert")
    assert client.get(f"/api/patterns/{door['id']}").json()["example_count"] == 3


def test_void_takes_an_example_out_of_matching_and_keeps_the_reason(
    client: TestClient, services: Services
) -> None:
    door = pattern_of(client, DOOR)
    example = client.get(f"/api/patterns/{door['id']}").json()["examples"][0]
    assert (
        client.post("/api/examples/void", json={"example_ids": [example["id"]]}).status_code == 422
    )  # no reason
    response = client.post(
        "/api/examples/void", json={"example_ids": [example["id"]], "reason": "wrong location"}
    )
    assert response.status_code == 200, response.text
    with Session(services.engine) as session:
        row = session.get(Example, example["id"])
        assert row is not None and row.status == "voided" and row.void_reason == "wrong location"
    hits = client.get("/api/search", params={"q": example["text"]}).json()
    assert all(hit.get("example_id") != example["id"] for hit in hits)


def test_merge_keeps_replies_as_alternatives_and_split_makes_a_candidate(client: TestClient) -> None:
    door, hours = pattern_of(client, DOOR), pattern_of(client, HOURS)
    merged = client.post(f"/api/patterns/{hours['id']}/merge", json={"into": door["id"], "reason": "test"})
    assert merged.status_code == 200, merged.text
    target = merged.json()["result"]
    assert target["example_count"] == 6
    detail = client.get(f"/api/patterns/{door['id']}").json()
    hour_ids = [e["id"] for e in detail["examples"] if e["reply"] == HOURS]
    assert len(hour_ids) == 3
    split = client.post(f"/api/patterns/{door['id']}/split", json={"example_ids": hour_ids})
    assert split.status_code == 200, split.text
    new = split.json()["result"]
    assert new["status"] == "candidate" and new["response_text"] == HOURS and new["example_count"] == 3
    assert client.post(f"/api/patterns/{door['id']}/merge", json={"into": door["id"]}).status_code == 422


def test_merged_pattern_alternatives_are_listed(client: TestClient, services: Services) -> None:
    door, hours = pattern_of(client, DOOR), pattern_of(client, HOURS)
    client.post(f"/api/patterns/{hours['id']}/merge", json={"into": door["id"]})
    versions = client.get(f"/api/patterns/{door['id']}/versions").json()
    assert versions[0]["state"]["alternatives"] == [HOURS]


def test_approval_queue_ranks_candidates_and_approves_in_one_call(
    client: TestClient, services: Services
) -> None:
    for text in ["gift card please", "gift voucher for my wife", "gift card for mum"]:
        client.post("/api/learn", json={"text": text, "reply": "Gift cards are sold online."})
    queue = client.get("/api/approval-queue").json()
    assert len(queue) == 5
    assert queue[0]["response_text"] == "Gift cards are sold online."  # operators send it most
    assert queue[0]["per_day"] == pytest.approx(2 * queue[1]["per_day"])
    assert queue[0]["minutes_saved_per_day"] >= queue[-1]["minutes_saved_per_day"]
    first = queue[0]["pattern_id"]
    approved = client.post(
        f"/api/patterns/{first}/approve",
        json={"mode": "auto", "response_text": "Gift cards: pls.example/gift"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["pattern"]["status"] == "approved" and approved.json()["pattern"]["mode"] == "auto"
    rejected = client.post(f"/api/patterns/{queue[1]['pattern_id']}/reject", json={"reason": "not ours"})
    assert rejected.json()["pattern"]["status"] == "disabled"
    assert len(client.get("/api/approval-queue").json()) == 3

    rest = [row["pattern_id"] for row in client.get("/api/approval-queue").json()]
    bulk = client.post(
        "/api/patterns/bulk", json={"pattern_ids": rest, "action": "approve", "mode": "suggest"}
    )
    assert bulk.status_code == 200 and len(bulk.json()["results"]) == 3
    assert client.get("/api/approval-queue").json() == []
    assert client.post("/api/patterns/bulk", json={"pattern_ids": rest, "action": "mode"}).status_code == 422
    unknown = client.post("/api/patterns/bulk", json={"pattern_ids": [*rest, 999999], "action": "disable"})
    assert unknown.status_code == 404 and all(
        p["status"] == "approved" for p in client.get("/api/patterns").json() if p["id"] in rest
    )  # nothing changed half-way


def test_export_then_import_into_an_empty_environment_reproduces_decisions(
    client: TestClient, services: Services, tmp_path: Path
) -> None:
    door = pattern_of(client, DOOR)
    client.post(f"/api/patterns/{door['id']}/approve", json={"mode": "suggest"})
    before = [client.post("/api/match", json={"text": t, "record": False}).json() for t in PROBES]
    document = client.get("/api/patterns/export").json()
    assert document["schema"] == "pls.patterns/1" and len(document["patterns"]) == 5

    settings = Settings(var_dir=tmp_path / "b" / "var", cache_dir=tmp_path / "b" / "cache", _env_file=None)  # type: ignore[call-arg]
    other = build(settings, tmp_path / "b")
    try:
        with api_client(other) as fresh:
            dry = fresh.post("/api/patterns/import", json=document)
            assert dry.status_code == 200, dry.text
            assert len(dry.json()["report"]["added"]) == 5 and fresh.get("/api/patterns").json() == []
            done = fresh.post("/api/patterns/import", params={"dry_run": False}, json=document)
            assert done.json()["report"]["examples_added"] == 15
            after = [fresh.post("/api/match", json={"text": t, "record": False}).json() for t in PROBES]
            again = fresh.post("/api/patterns/import", params={"dry_run": False}, json=document).json()
            assert again["report"]["unchanged"] == 5 and again["report"]["examples_added"] == 0
    finally:
        other.close()
    assert [(b["reply"], b["decision"], b["confidence"]) for b in before] == [
        (a["reply"], a["decision"], a["confidence"]) for a in after
    ]


def test_import_reports_conflicts_and_never_overwrites_silently(client: TestClient) -> None:
    document = client.get("/api/patterns/export").json()
    document["patterns"][0]["mode"] = "auto"
    report = client.post("/api/patterns/import", params={"dry_run": False}, json=document).json()["report"]
    assert len(report["conflicts"]) == 1 and report["conflicts"][0]["fields"]["mode"]["imported"] == "auto"
    assert all(p["mode"] == "shadow" for p in client.get("/api/patterns").json())
    forced = client.post("/api/patterns/import", params={"dry_run": False, "overwrite": True}, json=document)
    assert forced.json()["report"]["changed"]
    assert sum(p["mode"] == "auto" for p in client.get("/api/patterns").json()) == 1


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"schema": "other/9", "patterns": []}, "schema"),
        ({"schema": "pls.patterns/1", "patterns": {}}, "patterns"),
        ({"schema": "pls.patterns/1", "patterns": [{"response_text": "x"}]}, "patterns[0].alternatives"),
    ],
)
def test_import_rejects_a_malformed_document(client: TestClient, document: dict, field: str) -> None:
    response = client.post("/api/patterns/import", json=document)
    assert response.status_code == 422 and field in response.text


def test_other_tenants_pattern_cannot_be_edited_and_is_404(client: TestClient, services: Services) -> None:
    from app.tenants import create_tenant

    door = pattern_of(client, DOOR)
    create_tenant(services.engine, "other", "Other")
    with api_client(services, tenant="other") as other:
        assert other.patch(f"/api/patterns/{door['id']}", json={"mode": "auto"}).status_code == 404
        assert other.get(f"/api/patterns/{door['id']}/versions").status_code == 404
        assert (
            other.post(f"/api/patterns/{door['id']}/merge", json={"into": door["id"] + 1}).status_code == 404
        )
        assert other.post("/api/examples/void", json={"example_ids": [1], "reason": "x"}).status_code == 404
    assert pattern_of(client, DOOR)["mode"] == "shadow"
    with Session(services.engine) as session:
        assert all(e.status == "active" for e in session.exec(select(Example)).all())


def test_discovered_candidates_join_the_queue_and_are_approved_or_dismissed(
    client: TestClient, services: Services
) -> None:
    from app.learning.discovery import discover_and_store

    discover_and_store(services, "default")
    found = [row for row in client.get("/api/approval-queue").json() if row["kind"] == "discovery"]
    assert found, "discovery found nothing to queue"
    first, *rest = found
    approved = client.post(
        f"/api/discovery/candidates/{first['candidate_id']}/approve", json={"mode": "suggest"}
    )
    assert approved.status_code == 200, approved.text
    pattern = approved.json()["pattern"]
    assert pattern["status"] == "approved" and pattern["mode"] == "suggest"
    assert pattern["response_text"] == first["response_text"]
    again = client.post(
        f"/api/discovery/candidates/{first['candidate_id']}/approve", json={"mode": "suggest"}
    )
    assert again.status_code == 409
    if rest:
        dismissed = client.post(f"/api/discovery/candidates/{rest[0]['candidate_id']}/dismiss", json={})
        assert dismissed.status_code == 200
    remaining = {row.get("candidate_id") for row in client.get("/api/approval-queue").json()}
    assert first["candidate_id"] not in remaining and (not rest or rest[0]["candidate_id"] not in remaining)
    assert client.post("/api/discovery/candidates/999999/dismiss", json={}).status_code == 404


def test_settings_changes_are_audited_and_revertible(client: TestClient) -> None:
    first = client.put("/api/policy", json={"timezone": "Europe/London", "vip_numbers": ["+447700900123"]})
    assert first.status_code == 200, first.text
    second = client.put("/api/policy", json={"timezone": "America/New_York"})
    events = client.get("/api/audit", params={"object_type": "policy"}).json()
    assert [e["id"] for e in events] == [second.json()["audit_id"], first.json()["audit_id"]]
    assert events[0]["before"]["tenantpolicy"]["default"]["timezone"] == "Europe/London"
    assert client.post(f"/api/audit/{events[0]['id']}/revert").status_code == 200
    assert client.get("/api/policy").json()["timezone"] == "Europe/London"
    # The first change created the tenant's rules: reverting it goes back to the defaults.
    assert client.post(f"/api/audit/{events[1]['id']}/revert").status_code == 200
    policy = client.get("/api/policy").json()
    assert policy["timezone"] == "UTC" and policy["vip_numbers"] == []
    values = client.put("/api/templates/values", json={"values": {"booking_link": "https://book.example/x"}})
    assert values.status_code == 200, values.text
    event = client.get("/api/audit", params={"object_type": "templatevalues"}).json()[0]
    assert client.post(f"/api/audit/{event['id']}/revert").status_code == 200
    assert client.get("/api/templates/values").json() == {}
