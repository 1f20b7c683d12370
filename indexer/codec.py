"""Payload and vector conversions shared by both engines, so they cannot drift apart."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from indexer import schema
from indexer.store import Hit, IndexPoint, StoredPoint

# Fields a hit needs; asking the engine for only these keeps payload reads small.
HIT_FIELDS: list[str] = [schema.EXAMPLE_ID, schema.PATTERN_ID, schema.STATUS, schema.QUALITY]


def payload_of(point: IndexPoint) -> dict[str, Any]:
    """The payload stored for one example."""
    return {
        schema.EXAMPLE_ID: int(point.example_id),
        schema.PATTERN_ID: int(point.pattern_id),
        schema.TENANT: point.tenant,
        schema.STATUS: point.status,
        schema.QUALITY: float(point.quality),
    }


def payload_update(pattern_id: int | None, status: str | None, quality: float | None) -> dict[str, Any]:
    """The partial payload for a `set_payload` call (only the fields given)."""
    update: dict[str, Any] = {}
    if pattern_id is not None:
        update[schema.PATTERN_ID] = int(pattern_id)
    if status is not None:
        update[schema.STATUS] = status
    if quality is not None:
        update[schema.QUALITY] = float(quality)
    return update


def vectors_of(points: Sequence[IndexPoint], dim: int) -> list[list[float]]:
    """The points' vectors as plain lists, checked against the index dimension."""
    matrix = np.asarray([p.vector for p in points], dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {matrix.shape}")
    # One bulk conversion is much cheaper than one per row.
    rows: list[list[float]] = matrix.tolist()
    return rows


def query_rows(vectors: np.ndarray, dim: int) -> list[list[float]]:
    """Query vectors as plain lists, accepting one vector or a (n, dim) matrix."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValueError(f"expected query vectors of dimension {dim}, got shape {matrix.shape}")
    rows: list[list[float]] = matrix.tolist()
    return rows


def hit_of(payload: Mapping[str, Any] | None, score: float) -> Hit:
    """A search hit from an engine's payload and score."""
    data = payload or {}
    return Hit(
        example_id=int(data[schema.EXAMPLE_ID]),
        pattern_id=int(data[schema.PATTERN_ID]),
        score=float(score),
        status=str(data[schema.STATUS]),
        quality=float(data.get(schema.QUALITY, 1.0)),
    )


class PayloadRow(NamedTuple):
    """A point's whole payload, read back; its field names are the payload's keys."""

    example_id: int
    pattern_id: int
    tenant: str
    status: str
    quality: float


def row_of(payload: Mapping[str, Any] | None) -> PayloadRow:
    """A point's stored payload as a row (quality defaults to 1.0, as before it was stored)."""
    data = payload or {}
    return PayloadRow(
        int(data[schema.EXAMPLE_ID]),
        int(data[schema.PATTERN_ID]),
        # Interned: 100,000 rows held in memory share a few strings instead of a copy each.
        sys.intern(str(data[schema.TENANT])),
        sys.intern(str(data[schema.STATUS])),
        float(data.get(schema.QUALITY, 1.0)),
    )


def stored_of(payload: Mapping[str, Any] | None, vector: Any) -> StoredPoint:
    """A stored point from an engine's payload and (optional) vector."""
    return StoredPoint(
        *row_of(payload), vector=None if vector is None else np.asarray(vector, dtype=np.float32)
    )


def ordered(stored: Sequence[StoredPoint], example_ids: Sequence[int]) -> list[StoredPoint]:
    """Stored points in the order their ids were asked for (engines return them unordered)."""
    by_id = {p.example_id: p for p in stored}
    return [by_id[i] for i in dict.fromkeys(int(i) for i in example_ids) if i in by_id]
