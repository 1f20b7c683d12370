"""Serves the operator console: one HTML shell plus static ES modules, no build step.

The shell and its assets are public (the access gate lets `/`, `/console...` through) because
they hold no data: every call the console makes goes to `/api` or `/ws` with the operator's key.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
@router.get("/console")
def shell() -> FileResponse:
    """The console's single page; views are chosen by the URL fragment (#/inbox, #/patterns/12)."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def mount_console(app: FastAPI) -> None:
    """Add the console's page and its static files to the app."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
