"""The FastAPI application: built once, services created in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.api.access import AccessGate
from app.api.routes import (
    admin,
    curation,
    discovery,
    governance,
    health,
    learning,
    lines,
    live,
    metrics,
    operator,
    patterns,
    search,
    suggestions,
    templates,
    tenants,
    webhooks,
)
from app.auth import Forbidden, Unauthorized
from app.config import Settings, get_settings
from app.console.routes import mount_console
from app.errors import Conflict, IndexUnavailable, InvalidInput, NotFound
from app.services import Services, build_services
from app.workers import BackgroundWorkers

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The service: pass `services` to reuse prebuilt parts (tests, benchmarks)."""
    settings = settings or (services.settings if services else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = services is None
        app.state.services = services or build_services(settings)
        workers = BackgroundWorkers(app.state.services)
        workers.start()
        app.state.services.flow.start()  # the live flow's worker: decide, learn, send
        try:
            yield
        finally:
            app.state.services.flow.stop()
            workers.stop()
            if own:
                app.state.services.close()

    app = FastAPI(
        title="PLS — pattern learning service",
        version="0.1.0",
        description="Learns replies from operators; matches messages with calibrated confidence.",
        lifespan=lifespan,
    )
    # Governance and admin routes come first: their fixed paths (/patterns/export) must not be
    # read as a pattern id.
    for module in (health, admin, governance, curation, learning, search, patterns, tenants, webhooks,
                   lines, metrics, live, discovery):  # fmt: skip
        app.include_router(module.router)
    for module in (templates, suggestions):  # issue 5: response templates, smart suggestions
        app.include_router(module.router)
    app.include_router(operator.router)  # the console's inbox, verdicts, pattern history
    mount_console(app)
    _install_error_handlers(app)
    # The body limit runs first (outermost), so the access gate never buffers an oversized body.
    app.add_middleware(AccessGate)
    _install_body_limit(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InvalidInput)
    async def invalid(_: Request, error: InvalidInput) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{error.field}: {error.message}", "field": error.field}, status_code=422
        )

    @app.exception_handler(NotFound)
    async def not_found(_: Request, error: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, error: Conflict) -> JSONResponse:
        current = getattr(error, "current_version", None)
        extra = {"current_version": current} if current is not None else {}
        return JSONResponse({"detail": str(error), **extra}, status_code=409)

    @app.exception_handler(Unauthorized)
    async def unauthorized(_: Request, error: Unauthorized) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=401)

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, error: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=403)

    @app.exception_handler(IndexUnavailable)
    async def unavailable(_: Request, error: IndexUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"vector index unavailable: {error}"}, status_code=503)


def _install_body_limit(app: FastAPI) -> None:
    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        return await call_next(request)
