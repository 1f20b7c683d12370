"""SQL tables (the system of record). Qdrant holds only a derived index of `Example` rows.

Split by concern; import from `app.models`, which re-exports every table and enum (and so
registers every table on SQLModel.metadata for Alembic).
"""

from app.models import revisions  # noqa: F401 - installs the memory revision hooks
from app.models.core import (
    Action,
    Calibration,
    Decision,
    DecisionKind,
    Example,
    ExampleStatus,
    ImportRun,
    IndexOutbox,
    IndexRebuild,
    IndexRequest,
    Message,
    OutboxOp,
    Pattern,
    PatternCandidate,
    PatternMode,
    PatternStatus,
    Tenant,
    utcnow,
)
from app.models.flow import (
    Conversation,
    Feedback,
    Outbound,
    PhoneLine,
    TemplateValues,
    TenantPolicy,
    WebhookEvent,
)
from app.models.governance import (
    ApiKey,
    AuditEvent,
    PatternVersion,
)

__all__ = [
    "Action",
    "ApiKey",
    "AuditEvent",
    "Calibration",
    "Conversation",
    "Decision",
    "DecisionKind",
    "Example",
    "ExampleStatus",
    "Feedback",
    "ImportRun",
    "IndexOutbox",
    "IndexRebuild",
    "Message",
    "Outbound",
    "OutboxOp",
    "Pattern",
    "PatternCandidate",
    "PatternMode",
    "PatternStatus",
    "PatternVersion",
    "PhoneLine",
    "IndexRequest",
    "TemplateValues",
    "Tenant",
    "TenantPolicy",
    "WebhookEvent",
    "utcnow",
]
