"""The sender contract: one method that puts an SMS on the wire or says why it could not."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from app.errors import PLSError


class SendError(PLSError):
    """A send that did not go out. `retryable` only when the platform surely did not send it.

    A timeout after the request was written, or a 5xx other than 503, may have sent the
    message; retrying could text the customer twice, so those are not retryable.
    """

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SendResult:
    """What the platform gave back for a sent message."""

    external_id: str | None


class Sender(ABC):
    """Sends one SMS from a business line to a customer."""

    name: str = "sender"

    @abstractmethod
    def send(self, *, line_id: str, line_number: str, to_number: str, text: str) -> SendResult:
        """Send `text`; raises SendError."""

    def close(self) -> None:  # noqa: B027 - optional hook, most senders hold nothing
        """Release connections (no-op by default)."""
