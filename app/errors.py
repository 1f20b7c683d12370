"""Domain errors. Only the API edge and the CLI turn these into HTTP codes or exit codes."""

from __future__ import annotations


class PLSError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidInput(PLSError):
    """The caller sent something we cannot use; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(PLSError):
    """Something the caller named does not exist (or is not theirs to see)."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class TenantNotFound(NotFound):
    def __init__(self, tenant: str) -> None:
        super().__init__("tenant", tenant)


class PatternNotFound(NotFound):
    def __init__(self, pattern_id: int) -> None:
        super().__init__("pattern", pattern_id)


class IndexUnavailable(PLSError):
    """The vector store could not be reached; callers degrade to 'a human sees it'."""


class Conflict(PLSError):
    """The request clashes with the current state (a duplicate id, a stale version)."""
