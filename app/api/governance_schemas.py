"""Request bodies of the governance API (responses are plain dicts documented by example)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models import PatternMode

Reason = Field("", max_length=500, description="Why: kept in the version history and the audit log.")


class Tenanted(BaseModel):
    # Filled in from the API key by the access gate; another tenant's id is a 404.
    tenant: str = Field("default", min_length=1, max_length=64)
    reason: str = Reason


class PatternEditIn(Tenanted):
    expected_version: int | None = Field(None, ge=1, description="409 if the pattern moved on since.")
    response_text: str | None = Field(None, max_length=4000)
    alternatives: list[str] | None = None
    mode: PatternMode | None = None
    status: Literal["candidate", "approved", "disabled"] | None = None
    threshold_override: float | None = Field(None, gt=0.0, le=1.0)
    reason: str = Reason
    dry_run: bool = False

    def changes(self) -> dict[str, Any]:
        """Only the fields the caller actually sent (an explicit null clears an override)."""
        fields = ("response_text", "alternatives", "mode", "status", "threshold_override")
        return {
            name: (
                str(getattr(self, name)) if name == "mode" and getattr(self, name) else getattr(self, name)
            )
            for name in fields
            if name in self.model_fields_set
        }


class ApproveIn(Tenanted):
    mode: PatternMode = PatternMode.suggest
    response_text: str | None = Field(None, max_length=4000, description="Edit and approve in one call.")
    expected_version: int | None = Field(None, ge=1)
    reason: str = Reason
    dry_run: bool = False


class RejectIn(Tenanted):
    expected_version: int | None = Field(None, ge=1)
    reason: str = Reason
    dry_run: bool = False


class BulkIn(Tenanted):
    pattern_ids: list[int] = Field(min_length=1, max_length=1000)
    action: Literal["approve", "disable", "enable", "mode"]
    mode: PatternMode | None = None
    reason: str = Reason
    dry_run: bool = False


class RollbackIn(Tenanted):
    version: int = Field(ge=1)
    expected_version: int | None = Field(None, ge=1)
    reason: str = Reason
    dry_run: bool = False


class SplitIn(Tenanted):
    example_ids: list[int] = Field(min_length=1, max_length=10000)
    response_text: str | None = Field(None, max_length=4000)
    reason: str = Reason
    dry_run: bool = False


class MergeIn(Tenanted):
    into: int = Field(ge=1)
    reason: str = Reason
    dry_run: bool = False


class ExamplesIn(Tenanted):
    example_ids: list[int] = Field(min_length=1, max_length=10000)
    reason: str = Reason
    dry_run: bool = False


class MoveIn(ExamplesIn):
    pattern_id: int = Field(ge=1)


class KeyIn(Tenanted):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["viewer", "operator", "admin"] = "operator"
