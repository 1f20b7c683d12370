"""`POST /webhooks/openphone`: verify, store, answer fast; deciding happens in the worker."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import ServicesDep
from app.errors import InvalidInput
from app.webhooks.envelope import parse_envelope
from app.webhooks.signature import STD_ID, SignatureError, verify

router = APIRouter(tags=["webhooks"])


class BodyTooLarge(Exception):
    pass


async def _read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refusing to buffer more than `limit` bytes (chunked bodies included)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


@router.post(
    "/webhooks/openphone",
    status_code=202,
    responses={
        200: {"description": "Already received (a retry): nothing new stored."},
        401: {"description": "Missing, forged or stale signature: nothing stored."},
        413: {"description": "Body over PLS_WEBHOOK_MAX_BYTES."},
        415: {"description": "Not application/json."},
        422: {"description": "A required field is missing or malformed (named in `detail`)."},
    },
)
async def openphone(request: Request, services: ServicesDep) -> JSONResponse:
    """An OpenPhone event (legacy `openphone-signature` or Standard Webhooks headers)."""
    settings = services.settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _error(415, f"content-type must be application/json, not {content_type or 'missing'!r}")
    try:
        body = await _read_limited(request, settings.webhook_max_bytes)
    except BodyTooLarge:
        return _error(413, f"webhook body over {settings.webhook_max_bytes} bytes")
    payload: Any
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    flow = services.flow
    keys = await run_in_threadpool(flow.ingestor.keys, payload)
    try:
        scheme = verify(request.headers, body, keys, time.time(), settings.webhook_tolerance_s)
    except SignatureError as error:
        return _error(401, f"signature rejected: {error}")
    if payload is None:
        return _error(400, "body is not valid JSON")
    try:
        envelope = parse_envelope(payload, request.headers.get(STD_ID) if scheme == "standard" else None)
    except InvalidInput as error:
        return JSONResponse(
            {"detail": f"{error.field}: {error.message}", "field": error.field}, status_code=422
        )
    result = await run_in_threadpool(flow.ingestor.ingest, envelope, payload)
    if result.status == "accepted":
        flow.notify()
    return JSONResponse(
        {
            "status": result.status,
            "event_id": result.event_id,
            "message_id": result.message_id,
            "detail": result.detail,
        },
        status_code=200 if result.status == "duplicate" else 202,
    )
