"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

TENANT_FIELD = Field("default", min_length=1, max_length=64, description="Tenant (business) id.")


class LearnIn(BaseModel):
    tenant: str = TENANT_FIELD
    text: str = Field(description="The customer's message.")
    reply: str = Field(description="The reply the operator sent.")
    context: list[str] = Field(default_factory=list, max_length=20, description="Messages before it.")
    quality: float = Field(1.0, ge=0.0, le=1.0)


class LearnOut(BaseModel):
    example_id: int
    pattern_id: int
    new_pattern: bool
    duplicate: bool


class MatchIn(BaseModel):
    tenant: str = TENANT_FIELD
    text: str = Field(description="The customer's message to answer.")
    record: bool = Field(True, description="Store the decision (false for a dry run).")


class NeighbourOut(BaseModel):
    example_id: int
    pattern_id: int
    similarity: float


class MatchOut(BaseModel):
    tenant: str
    pattern_id: int | None
    reply: str | None
    confidence: float
    action: str = Field(description="What the confidence supports: auto, suggest or abstain.")
    decision: str = Field(description="What PLS does after the pattern's mode: auto/suggest/shadow/abstain.")
    reason: str
    thresholds: dict[str, float]
    explanation: dict[str, Any]
    decision_id: str | None
    latency_ms: float
    stages_ms: dict[str, float] = Field(
        default_factory=dict,
        description="Milliseconds spent embedding and searching (for the batch of `batch` messages "
        "this one was matched in) and scoring it.",
    )


class SearchHitOut(BaseModel):
    example_id: int
    pattern_id: int
    text: str
    reply: str
    similarity: float
    status: str


class PatternOut(BaseModel):
    id: int
    tenant: str
    response_text: str
    key_facts: list[str]
    status: str
    mode: str
    version: int
    example_count: int
    accepted_count: int
    rejected_count: int
    match_count: int
    feedback_mean: float
    created_at: datetime
    updated_at: datetime


class ExampleOut(BaseModel):
    id: int
    text: str
    reply: str
    context: list[str]
    quality: float
    status: str
    created_at: datetime


class PatternDetailOut(PatternOut):
    examples: list[ExampleOut]


class TenantIn(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=200)


class TenantOut(BaseModel):
    id: str
    name: str
