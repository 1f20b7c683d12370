"""Request bodies of the live-flow API (phone lines, business rules)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.api.schemas import TENANT_FIELD


class LineIn(BaseModel):
    tenant: str = TENANT_FIELD
    external_id: str = Field(min_length=1, max_length=64, description="The platform's line id (PN...).")
    number: str = Field(min_length=3, max_length=32, pattern=r"^\+?[0-9]+$", description="E.164 number.")
    name: str = Field("", max_length=200)
    webhook_secret: str | None = Field(None, max_length=256, description="Overrides the global secret.")


class PolicyIn(BaseModel):
    """Only the fields given are changed."""

    tenant: str = TENANT_FIELD
    timezone: str | None = Field(None, max_length=64, description="IANA zone, e.g. Europe/London.")
    hours: dict[str, list[list[str]]] | None = Field(
        None, description='When auto-replies may go out: {"mon": [["09:00", "18:00"]], ...}; {} = any time.'
    )
    holidays: list[str] | None = Field(None, description="YYYY-MM-DD dates without auto-replies.")
    vip_numbers: list[str] | None = Field(None, description="Customers always answered by a person.")
    max_auto_per_customer_day: int | None = Field(None, ge=0, le=1000)
    max_auto_per_conversation: int | None = Field(None, ge=0, le=1000)
    operator_lockout_hours: float | None = Field(None, ge=0, le=24 * 30)
    escalation_phrases: list[str] | None = Field(None, description="Phrases that hand a turn to a human.")
    repeat_window_s: int | None = Field(None, ge=1, le=86400)
    repeat_limit: int | None = Field(None, ge=2, le=100)
    shadow: bool | None = Field(
        None, description="Record only (true), act on each pattern's mode (false); null follows PLS_SHADOW."
    )

    def changes(self) -> dict[str, Any]:
        given = {k: v for k, v in self.model_dump(exclude={"tenant"}).items() if v is not None}
        if "shadow" in self.model_fields_set:  # an explicit null hands the switch back to PLS_SHADOW
            given["shadow"] = self.shadow
        return given
