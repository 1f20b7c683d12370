"""`GET /ws/live`: a WebSocket streaming a tenant's decisions as they are made."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from app.models import Tenant
from app.services import Services

router = APIRouter(tags=["live"])

# WebSocket close code for "no such tenant" (4000-4999 are the application's own).
CLOSE_TENANT_NOT_FOUND = 4404


def _tenant_exists(services: Services, tenant: str) -> bool:
    with Session(services.engine) as session:
        return session.get(Tenant, tenant) is not None


@router.websocket("/ws/live")
async def live(websocket: WebSocket, tenant: str = "default") -> None:
    """Every decision, learned reply and send of `tenant`, as JSON messages."""
    services: Services = websocket.app.state.services
    if len(tenant) > 64 or not await run_in_threadpool(_tenant_exists, services, tenant):
        await websocket.close(code=CLOSE_TENANT_NOT_FOUND, reason=f"tenant {tenant[:64]!r} not found")
        return
    await websocket.accept()
    sub = services.live.subscribe(tenant)
    try:
        await websocket.send_json({"type": "hello", "tenant": tenant})

        async def forward() -> None:
            while True:
                await websocket.send_json(await sub.queue.get())

        async def until_closed() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        return

        tasks = [asyncio.create_task(forward()), asyncio.create_task(until_closed())]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        services.live.unsubscribe(sub)
