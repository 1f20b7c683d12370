"""OpenPhone's message API: `POST /v1/messages` with the API key in the Authorization header."""

from __future__ import annotations

import httpx

from app.sending.base import Sender, SendError, SendResult

# Statuses after which the platform has certainly not sent the message: safe to try again.
_RETRYABLE_STATUS = frozenset({408, 425, 429, 503})


class OpenPhoneSender(Sender):
    """Sends through OpenPhone; `base_url` points at a local fake server in tests."""

    name = "openphone"

    def __init__(self, api_key: str, base_url: str, timeout_s: float = 10.0) -> None:
        if not api_key:
            raise ValueError("PLS_OPENPHONE_API_KEY is required for PLS_SENDER=openphone")
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout_s,
            headers={"Authorization": api_key, "Content-Type": "application/json"},
        )

    def send(self, *, line_id: str, line_number: str, to_number: str, text: str) -> SendResult:
        body = {"content": text, "from": line_id or line_number, "to": [to_number]}
        try:
            response = self._client.post("/v1/messages", json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # The request never reached the platform.
            raise SendError(
                f"could not reach OpenPhone: {error.__class__.__name__}", retryable=True
            ) from error
        except httpx.HTTPError as error:
            raise SendError(
                f"send outcome unknown ({error.__class__.__name__}): check before replying", retryable=False
            ) from error
        if response.status_code in (200, 201, 202):
            try:
                data = response.json().get("data") or {}
            except ValueError:
                data = {}
            external = data.get("id") if isinstance(data, dict) else None
            return SendResult(external if isinstance(external, str) else None)
        detail = response.text[:200]
        if response.status_code in _RETRYABLE_STATUS:
            raise SendError(f"OpenPhone answered {response.status_code}: {detail}", retryable=True)
        if 400 <= response.status_code < 500:
            raise SendError(
                f"OpenPhone refused the message ({response.status_code}): {detail}", retryable=False
            )
        raise SendError(
            f"OpenPhone answered {response.status_code}; the message may have gone out: {detail}",
            retryable=False,
        )

    def close(self) -> None:
        self._client.close()
