"""Names and parameters of the example index: one place for every key the index uses."""

from __future__ import annotations

import uuid

COLLECTION = "pls_examples"

# Payload keys, kept as constants so a typo is an import error, not a silent miss.
EXAMPLE_ID = "example_id"
PATTERN_ID = "pattern_id"
TENANT = "tenant"
STATUS = "status"
QUALITY = "quality"

# Statuses whose examples take part in matching (voided ones never do).
SEARCHABLE_STATUSES: tuple[str, ...] = ("active", "gold")

# A fixed namespace so the same example always maps to the same point id.
POINT_NAMESPACE = uuid.UUID("5b1c9e0e-3f0a-4d5e-9a53-6f1f2b7c8d40")


def point_uuid(example_id: int) -> uuid.UUID:
    """Stable, idempotent point id for an example, as the engines return it."""
    return uuid.uuid5(POINT_NAMESPACE, f"example:{example_id}")


def point_id(example_id: int) -> str:
    """Stable, idempotent point id for an example, as the engines take it."""
    return str(point_uuid(example_id))


# Payload fields the engines index, and how: exact-match lookups only (never full text).
KEYWORD_FIELDS: tuple[str, ...] = (TENANT, STATUS)
INTEGER_FIELDS: tuple[str, ...] = (PATTERN_ID, EXAMPLE_ID)

DEFAULT_DIM = 384
