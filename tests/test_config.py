"""Settings come from PLS_ variables, with embedded defaults and validated targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings


def test_defaults_are_embedded_and_offline(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'pls.db'}"
    assert settings.resolved_qdrant_path == tmp_path / "qdrant"
    assert settings.qdrant_url is None and settings.embedder == "onnx"
    assert (settings.suggest_precision, settings.auto_precision) == (0.90, 0.98)


def test_environment_overrides_with_the_pls_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLS_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("PLS_QDRANT_URL", "http://qdrant:6333")
    monkeypatch.setenv("PLS_K", "32")
    monkeypatch.setenv("PLS_AUTO_PRECISION", "0.99")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert settings.qdrant_url == "http://qdrant:6333"
    assert settings.k == 32 and settings.auto_precision == 0.99


def test_suggest_target_may_not_exceed_auto_target() -> None:
    with pytest.raises(ValidationError, match="suggest_precision"):
        Settings(suggest_precision=0.99, auto_precision=0.95, _env_file=None)  # type: ignore[call-arg]
