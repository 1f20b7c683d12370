"""The demo key: a newcomer gets a working admin key, the same one across restarts."""

from __future__ import annotations

from pathlib import Path

from app.auth import authenticate
from app.config import Settings
from app.demo import demo_key
from app.services import build_services
from indexer.edge import EdgeStore
from tests.conftest import FakeEmbedder


def test_demo_key_is_kept_across_restarts_and_replaced_when_revoked(settings: Settings, tmp_path: Path) -> None:
    services = build_services(settings, embedder=FakeEmbedder(), store=EdgeStore(tmp_path / "q", dim=64))
    try:
        key, path = demo_key(services)
        assert authenticate(services.engine, key).role == "admin"
        assert path.read_text().strip() == key and oct(path.stat().st_mode)[-3:] == "600"
        assert demo_key(services)[0] == key
        from sqlmodel import Session, select

        from app.models import ApiKey, utcnow

        with Session(services.engine) as session:
            row = session.exec(select(ApiKey)).one()
            row.revoked_at = utcnow()
            session.add(row)
            session.commit()
        fresh, _ = demo_key(services)
        assert fresh != key and authenticate(services.engine, fresh).tenant == "default"
    finally:
        services.close()
