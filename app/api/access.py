"""The gate every API request passes: an API key, a role, and the key's tenant only.

It sits in front of all routes (HTTP and WebSocket), so a new route is scoped without
remembering to be: the caller's key decides the tenant. A `tenant` in the query string or the
JSON body that is not the key's is answered as not found (so other tenants' existence does
not leak); a missing one is filled in with the key's tenant.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth import Forbidden, Principal, Role, Unauthorized, authenticate

# Reachable without a key: health probes, API docs, the console's static shell, and webhooks
# (which prove themselves with a signature instead).
PUBLIC = re.compile(r"^/(healthz|readyz|docs(/.*)?|redoc|openapi\.json|webhooks/.*|static/.*|console.*)?$")

# What each kind of call needs; the first matching rule wins, then reads need viewer and
# writes need operator.
ROLE_RULES: list[tuple[str, re.Pattern[str], Role]] = [
    ("*", re.compile(r"^/api/(keys|audit)(/.*)?$"), Role.admin),
    ("*", re.compile(r"^/api/patterns/(export|import)$"), Role.admin),
    ("*", re.compile(r"^/api/patterns/\d+/rollback$"), Role.admin),
    ("PUT", re.compile(r"^/api/(policy|templates/values)$"), Role.admin),
    ("POST", re.compile(r"^/api/(lines|tenants)$"), Role.admin),
]


def required_role(method: str, path: str) -> Role:
    """The least role that may make this call."""
    for rule_method, pattern, role in ROLE_RULES:
        if rule_method in ("*", method) and pattern.match(path):
            return role
    return Role.viewer if method in ("GET", "HEAD", "OPTIONS") else Role.operator


def presented_key(scope: Scope) -> str | None:
    """The key from `Authorization: Bearer`, `X-API-Key`, or (WebSockets only) `?key=`."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if "x-api-key" in headers:
        return headers["x-api-key"].strip()
    if scope["type"] == "websocket":
        return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))).get("key")
    return None


class AccessGate:
    """ASGI middleware: authenticate, authorise by role, pin the request to the key's tenant."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or PUBLIC.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            engine = scope["app"].state.services.engine
            principal = authenticate(engine, presented_key(scope))
            method = scope.get("method", "GET")
            principal.require(required_role(method, scope["path"]))
        except Unauthorized as error:
            await _refuse(scope, receive, send, 401, str(error))
            return
        except Forbidden as error:
            await _refuse(scope, receive, send, 403, str(error))
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        if query.get("tenant", principal.tenant) != principal.tenant:
            await _refuse(scope, receive, send, 404, f"tenant {query['tenant']!r} not found")
            return
        query["tenant"] = principal.tenant
        query.pop("key", None)
        scope = {**scope, "query_string": urlencode(query).encode("latin-1")}
        scope.setdefault("state", {})["principal"] = principal
        if scope["type"] == "http" and _is_json(scope):
            body = await _read_body(receive)
            pinned, named = _pin_body(body, principal)
            if pinned is None:
                await _refuse(scope, receive, send, 404, f"tenant {named!r} not found")
                return
            receive = _replay(pinned)
            scope["headers"] = [
                (k, str(len(pinned)).encode() if k.lower() == b"content-length" else v)
                for k, v in scope["headers"]
            ]
        await self.app(scope, receive, send)


def principal_of(scope_state: Any) -> Principal:
    """The caller the gate let in (routes use it to name the actor in the audit log)."""
    principal = getattr(scope_state, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthorized("no authenticated caller")
    return principal


def _is_json(scope: Scope) -> bool:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


def _pin_body(body: bytes, principal: Principal) -> tuple[bytes | None, object]:
    """The body with the key's tenant in it; (None, the name) if it names another tenant."""
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return body, None  # not JSON after all: the route's own validation answers 4xx
    if not isinstance(data, dict):
        return body, None
    if data.get("tenant", principal.tenant) != principal.tenant:
        return None, data.get("tenant")
    data["tenant"] = principal.tenant
    return json.dumps(data).encode("utf-8"), None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4000 + status, "reason": detail[:120]})
        return
    body = json.dumps({"detail": detail}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
