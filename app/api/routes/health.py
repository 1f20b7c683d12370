"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(services: ServicesDep) -> JSONResponse:
    """Database, vector index and embedder all answer and the tenants' memories are loaded; 503
    names what is not there yet."""
    checks: dict[str, str] = {}
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"error: {error.__class__.__name__}"
    try:
        services.store.count()
        checks["index"] = "ok"
    except Exception as error:
        checks["index"] = f"error: {error.__class__.__name__}"
    try:
        services.embedder.embed_one("ready")
        checks["embedder"] = "ok"
    except Exception as error:
        checks["embedder"] = f"error: {error.__class__.__name__}"
    warming = services.memories.warming()
    checks["memories"] = "ok" if warming is None else f"loading {warming[0]}/{warming[1]}"
    checks["index_pending"] = str(services.index_writer.pending())
    ready = all(value == "ok" for key, value in checks.items() if key != "index_pending")
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
