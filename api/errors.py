"""Errors at the edge: every failure leaves as JSON `{"message": ...}`, never HTML or a traceback.

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

from api.replies import refusal

log = logging.getLogger(__name__)

NOT_JSON = "The request body is not valid JSON."
NOT_AN_OBJECT = "The request body must be a JSON object sent as Content-Type: application/json."
NO_BODY = "The request body is missing: send a JSON object as Content-Type: application/json."
INTERNAL_ERROR = "Internal error"


def describe_invalid_request(errors: Sequence[Any]) -> str:
    """One line naming each field that is wrong and why."""
    problems = []
    for error in errors:
        if error["type"] == "json_invalid":
            return NOT_JSON
        where, *field = error["loc"]
        reason = str(error["msg"]).removeprefix("Value error, ")
        if not field and where == "body":
            problems.append(NO_BODY if error["type"] == "missing" else NOT_AN_OBJECT)
        else:
            problems.append(f"{'.'.join(map(str, field))}: {reason}")
    return "; ".join(dict.fromkeys(problems))


async def invalid_request(request: Request, error: RequestValidationError) -> Response:
    return refusal(400, describe_invalid_request(error.errors()))


async def http_error(request: Request, error: HTTPException) -> Response:
    message = str(error.detail)
    if error.status_code == 404 and message == HTTPStatus.NOT_FOUND.phrase:
        message = f"Not found: {request.url.path}"
    elif error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "")
        message = f"Method {request.method} is not allowed here; allowed: {allowed}."
    return refusal(error.status_code, message, headers=error.headers)


async def internal_error(request: Request, error: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return refusal(500, INTERNAL_ERROR)


def install_error_handlers(app: FastAPI) -> None:
    app.exception_handler(RequestValidationError)(invalid_request)
    app.exception_handler(HTTPException)(http_error)
    app.exception_handler(Exception)(internal_error)
