"""The sender named by settings."""

from __future__ import annotations

from app.config import Settings
from app.sending.base import Sender
from app.sending.dryrun import DryRunSender
from app.sending.openphone import OpenPhoneSender


def build_sender(settings: Settings) -> Sender:
    """`dry-run` (the default) or `openphone`."""
    if settings.sender == "openphone":
        return OpenPhoneSender(
            settings.openphone_api_key or "", settings.openphone_api_url, timeout_s=settings.send_timeout_s
        )
    return DryRunSender()
