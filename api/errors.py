"""Errors at the edge: every failure leaves as JSON `{"message": ...}`, never HTML or a traceback,
and leaves the client's connection open.

Malformed requests are 400, as in the original API (FastAPI would say 422).
"""

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.messages import say
from api.replies import refusal
from api.routing import allowed_methods, is_admin_path
from db.connections import DatabaseUnavailable

log = logging.getLogger(__name__)

INTERNAL_ERROR = "api-internal-error"  # catalog ids (locales/)
OUTAGE_RETRY_AFTER = 5  # seconds: about what a restart of the database or a failover takes
DATABASE_UNAVAILABLE = "api-database-unavailable"


def describe_invalid_request(errors: Sequence[Any]) -> str:
    """One line naming each field that is wrong and why."""
    problems = []
    for error in errors:
        if error["type"] == "json_invalid":
            return say("api-not-json")
        where, *field = error["loc"]
        reason = str(error["msg"]).removeprefix("Value error, ")
        if not field and where == "body":
            problems.append(
                say("api-no-body" if error["type"] == "missing" else "api-not-an-object")
            )
        else:
            problems.append(f"{'.'.join(map(str, field))}: {reason}")
    return "; ".join(dict.fromkeys(problems))


async def invalid_request(request: Request, error: RequestValidationError) -> Response:
    return refusal(400, describe_invalid_request(error.errors()))


async def http_error(request: Request, error: HTTPException) -> Response:
    message = str(error.detail)
    if error.status_code == 404 and message == HTTPStatus.NOT_FOUND.phrase:
        message = say("api-not-found", path=request.url.path)
    elif error.status_code == 405 and is_admin_path(request.url.path):
        # A wrong method must not tell that an operators' path exists.
        return refusal(404, say("api-not-found", path=request.url.path))
    elif error.status_code == 405:
        # Starlette names the methods of the first route at the path; the others count too.
        allowed = ", ".join(allowed_methods(request.app.router.routes, request.scope))
        message = say("api-method-not-allowed", method=request.method, allowed=allowed)
        return refusal(405, message, headers={**(error.headers or {}), "Allow": allowed})
    return refusal(error.status_code, message, headers=error.headers)


async def database_unavailable(request: Request, error: DatabaseUnavailable) -> Response:
    message = say(DATABASE_UNAVAILABLE, seconds=OUTAGE_RETRY_AFTER)
    return refusal(503, message, retry_after=OUTAGE_RETRY_AFTER)


class UnexpectedErrors:
    """ASGI middleware: an unexpected error is logged once and answered 500.

    Starlette's last resort (an `Exception` handler) answers too, but then raises the error again
    for the server, and uvicorn logs it a second time and closes the client's connection: under
    load, every failed request cost its client the keep-alive connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception as error:
            if started:
                raise  # half an answer is out: only closing the connection can end it
            log.error("%s %s failed", scope["method"], scope["path"], exc_info=error)
            await refusal(500, say(INTERNAL_ERROR))(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.exception_handler(RequestValidationError)(invalid_request)
    app.exception_handler(HTTPException)(http_error)
    app.exception_handler(DatabaseUnavailable)(database_unavailable)
    app.add_middleware(UnexpectedErrors)  # added last, so outermost of the app's middleware
