"""Settings: the only place the environment is read (prefix PLS_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "pls"


class Settings(BaseSettings):
    """Every knob of the service, with defaults that run embedded and offline."""

    model_config = SettingsConfigDict(env_prefix="PLS_", env_file=".env", extra="ignore")

    var_dir: Path = Field(Path("var"), description="Where the embedded stores live.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite at <var_dir>/pls.db.")
    qdrant_url: str | None = Field(
        None,
        description="Qdrant server or cluster; unset = embedded engine under <var_dir>/qdrant.",
    )
    qdrant_api_key: str | None = None
    qdrant_path: Path | None = Field(None, description="Embedded index directory override.")

    embedder: Literal["onnx", "sentence-transformers", "openai"] = "onnx"
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="Model export + embedding cache.")
    openai_api_key: str | None = None
    openai_embedding_model: str = "text-embedding-3-small"

    k: int = Field(20, ge=1, le=200, description="Neighbours fetched per match.")
    suggest_precision: float = Field(0.90, gt=0.5, lt=1.0)
    auto_precision: float = Field(0.98, gt=0.5, lt=1.0)
    calibration_sample: int = Field(5000, ge=100, description="Examples replayed to fit calibration.")

    default_tenant: str = "default"
    max_text_chars: int = 4000
    outbox_interval_s: float = 2.0
    wait_timeout_s: float = Field(60.0, description="How long `pls wait` waits for DB and Qdrant.")

    # History import, discovery and index maintenance (issue 4).
    void_below: float = Field(0.5, ge=0.0, le=1.0, description="Imported examples scoring less are voided.")
    discovery_similarity: float = Field(
        0.5, gt=0.0, lt=1.0, description="Average joint similarity that keeps examples in one candidate."
    )
    discovery_reply_weight: float = Field(0.7, ge=0.0, le=1.0, description="Reply share of that similarity.")
    discovery_min_size: int = Field(3, ge=2, description="Fewest examples a candidate pattern has.")
    discovery_min_share: float = Field(
        0.005, ge=0.0, le=0.2, description="...or this share of the tenant's examples (capped at 20)."
    )
    discovery_max_examples: int = Field(
        4000, ge=100, description="Above this, examples are pre-grouped before clustering."
    )
    regroup_min_examples: int = Field(
        300, ge=2, description="Fewest differently worded examples regrouped by their words after an import."
    )
    regroup_max_examples: int = Field(
        20000,
        ge=2,
        description="Most of them: above 4,000 they vote in 4,000 units; 20,000 take about a minute and 2 GB.",
    )
    verify_sample: int = Field(500, ge=1, description="Points `pls index verify` compares in full.")

    # The live flow: webhooks, conversations, sending (issue 3).
    openphone_webhook_secret: str | None = Field(
        None, description="Webhook signing secret (base64, or whsec_...); a line may override it."
    )
    webhook_tolerance_s: int = Field(300, ge=1, description="Largest clock skew of a signed delivery.")
    webhook_max_bytes: int = Field(64 * 1024, ge=1024, description="Largest webhook body accepted.")
    shadow: bool = Field(True, description="Global shadow switch: only record what PLS would do.")
    sender: Literal["dry-run", "openphone"] = "dry-run"
    openphone_api_key: str | None = None
    openphone_api_url: str = "https://api.openphone.com"
    send_max_attempts: int = Field(4, ge=1, description="Send attempts before a human takes over.")
    send_retry_s: float = Field(5.0, ge=0.0, description="First retry delay; doubles per attempt.")
    send_timeout_s: float = Field(10.0, gt=0.0)
    burst_window_s: float = Field(90.0, ge=0.0, description="Customer messages this close are one turn.")
    conversation_gap_min_s: float = Field(1800.0, gt=0.0, description="Shortest silence that ends a thread.")
    conversation_gap_max_s: float = Field(86400.0, gt=0.0, description="A silence this long always does.")
    conversation_gap_factor: float = Field(8.0, gt=1.0, description="Silence vs the thread's usual gap.")
    operator_seconds_per_reply: float = Field(45.0, ge=0.0, description="Operator time one reply costs.")

    # Privacy (issue 5): raw customer text is masked after this many days.
    raw_retention_days: int = Field(30, ge=1, description="Days raw message text is kept before masking.")
    purge_interval_s: float = Field(3600.0, gt=0.0, description="How often the service runs the purge.")
    suggest_stale_days: int = Field(14, ge=1, description="An approved pattern idle this long: disable?")
    suggest_merge_similarity: float = Field(
        0.8, gt=0.0, le=1.0, description="Message similarity of two patterns that suggests a merge."
    )
    suggest_duplicate_similarity: float = Field(
        0.9, gt=0.0, le=1.0, description="Reply similarity of two patterns that makes them duplicates."
    )

    @field_validator("var_dir", "cache_dir", "qdrant_path", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _ordered_targets(self) -> Settings:
        if self.suggest_precision > self.auto_precision:
            raise ValueError("suggest_precision must not exceed auto_precision")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, SQLite under var_dir when none is configured."""
        return self.database_url or f"sqlite:///{self.var_dir / 'pls.db'}"

    @property
    def resolved_qdrant_path(self) -> Path:
        """Directory of the embedded Qdrant engine."""
        return self.qdrant_path or self.var_dir / "qdrant"

    @property
    def embedding_cache_path(self) -> Path:
        """The persistent content-hash cache shared by serve, eval and reindex."""
        return self.cache_dir / "embeddings.sqlite"

    @property
    def onnx_dir(self) -> Path:
        """Where the project's own ONNX export of the model lives."""
        return self.cache_dir / "models" / "all-MiniLM-L6-v2-onnx"


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
