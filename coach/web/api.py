"""A small JSON API beside the page (for organisations and load tests): same engine, same guards.

    POST   /api/v1/sessions              {"region": "uk"}            -> {"session", "welcome"}
    POST   /api/v1/turn                  {"session": ID, "text": ...} -> the turn as JSON
    GET    /api/v1/sessions/{id}/export?format=md|json              -> the transcript
    DELETE /api/v1/sessions/{id}                                     -> {"deleted": true}
    GET    /api/v1/health                                            -> {"ok", "backend"}

With logins configured every call needs HTTP Basic credentials, and a login only reaches the
sessions it created. Each client (login, else address) has a request budget per minute.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Callable

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ..errors import CoachError
from ..store.sessions import SessionNotFound
from .auth import RateLimiter
from .handlers import WebSessions

MAX_BODY_BYTES = 64 * 1024


class ApiError(Exception):
    """An error answered as {"error": message} with an HTTP status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def rate_from_env() -> float:
    """Requests per minute per client: COACH_API_RATE (0 = no limit), default 120."""
    from ..settings import settings

    return settings().api_rate


def _basic_user(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    return (user, password) if sep else None


def router(web: WebSessions, check: Callable[[str, str], bool] | None,
           limiter: RateLimiter | None = None) -> APIRouter:
    """The API routes for one WebSessions; `check` is the login check (None: no logins)."""
    limiter = limiter or RateLimiter(rate_from_env(), burst=30)
    api = APIRouter(prefix="/api/v1")

    def caller(request: Request) -> str:
        user = ""
        if check is not None:
            given = _basic_user(request)
            if given is None or not check(*given):
                raise ApiError(401, "Log in with your coach user name and password.",
                               {"WWW-Authenticate": 'Basic realm="trust-coach"'})
            user = given[0]
        client = user or (request.client.host if request.client else "unknown")
        if not limiter.allow(client):
            raise ApiError(429, "Too many requests; please wait a moment and try again.",
                           {"Retry-After": "5"})
        return user

    async def body(request: Request) -> dict[str, Any]:
        too_large = f"The request is too large (limit {MAX_BODY_BYTES // 1024} KB)."
        size = request.headers.get("content-length")
        if size and size.isdigit() and int(size) > MAX_BODY_BYTES:
            raise ApiError(413, too_large)
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BODY_BYTES:
                raise ApiError(413, too_large)
        try:
            parsed = json.loads(data or b"{}")
        except ValueError:
            raise ApiError(400, "The request body must be JSON.") from None
        if not isinstance(parsed, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return parsed

    def owned(session_id: Any, user: str) -> str:
        sid = str(session_id or "")
        if not sid or not web.may_use(sid, user):
            raise ApiError(404, "No saved session with that id for this login.")
        return sid

    async def guarded(fn: Callable[[], Any]) -> Any:
        try:
            return await fn()
        except ApiError as exc:
            return JSONResponse({"error": str(exc)}, exc.status, headers=exc.headers)
        except SessionNotFound:
            return JSONResponse({"error": "No saved session with that id."}, 404)
        except CoachError as exc:
            return JSONResponse({"error": str(exc)}, 400)

    @api.get("/health")
    async def health(request: Request):
        async def go():
            caller(request)
            return {"ok": True, "backend": web.coach.backend_name}
        return await guarded(go)

    @api.post("/sessions")
    async def create(request: Request):
        async def go():
            user = caller(request)
            data = await body(request)
            region = data.get("region")
            sid, welcome = await anyio.to_thread.run_sync(
                lambda: web.coach.start_session(region=str(region) if region else None,
                                                history_opt_in=bool(data.get("remember"))))
            web.owners.set(sid, user)
            return {"session": sid, "welcome": welcome}
        return await guarded(go)

    @api.post("/turn")
    async def turn(request: Request):
        async def go():
            user = caller(request)
            data = await body(request)
            sid = owned(data.get("session"), user)
            text = data.get("text")
            if not isinstance(text, str):
                raise ApiError(400, "Send the message as a string in the field 'text'.")
            result = await anyio.to_thread.run_sync(web.coach.reply, sid, text)
            out = result.to_dict()
            out["timings"] = {k: round(v, 4) for k, v in result.timings.items()}
            return out
        return await guarded(go)

    @api.get("/sessions/{session_id}/export")
    async def export(session_id: str, request: Request, format: str = "md"):
        async def go():
            user = caller(request)
            sid = owned(session_id, user)
            if format not in ("md", "json"):
                raise ApiError(400, "The export format is md or json.")
            text = await anyio.to_thread.run_sync(web.coach.export, sid, format)
            media = "application/json" if format == "json" else "text/markdown"
            return PlainTextResponse(text, media_type=f"{media}; charset=utf-8")
        return await guarded(go)

    @api.delete("/sessions/{session_id}")
    async def delete(session_id: str, request: Request):
        async def go():
            user = caller(request)
            sid = owned(session_id, user)
            await anyio.to_thread.run_sync(web.coach.delete, sid)
            web.owners.forget(sid)
            return {"deleted": True}
        return await guarded(go)

    return api
