"""The API's documentation: error responses with examples for OpenAPI, and ReDoc."""

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse

from api.errors import DATABASE_UNAVAILABLE, OUTAGE_RETRY_AFTER
from api.limits import BODY_TOO_LARGE, MAX_BODY_BYTES
from api.models import ErrorMessage
from api.texts import english

OPENAPI_URL = "/api/openapi.json"
REDOC_PATHS = ("/api/redoc/", "/api/redoc")


def documented_error(
    description: str, *, headers: Mapping[str, dict[str, Any]] | None = None, **examples: str
) -> dict[str, Any]:
    """An OpenAPI response whose body is `ErrorMessage`, with one example per named message, and
    the headers it carries (OpenAPI header objects by name)."""
    response: dict[str, Any] = {
        "model": ErrorMessage,
        "description": description,
        "content": {
            "application/json": {
                "examples": {
                    name: {"summary": name.replace("_", " "), "value": {"message": message}}
                    for name, message in examples.items()
                }
            }
        },
    }
    if headers:
        response["headers"] = dict(headers)
    return response


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
BEARER_CHALLENGE = {
    "WWW-Authenticate": {
        "description": "How to authenticate: a bearer token.",
        "schema": {"type": "string", "enum": ["Bearer"]},
    }
}

# Statuses any operation may answer besides its own outcomes. Declaring 4XX also keeps FastAPI
# from documenting its 422, which this API never sends: malformed requests get 400.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": documented_error(
        "Malformed request (400), unknown path (404), wrong method (405), body over the size "
        "limit (413).",
        not_json="The request body is not valid JSON.",
        too_large=english(BODY_TOO_LARGE, limit=MAX_BODY_BYTES),
    ),
    500: documented_error("Unexpected server error; it is logged.", internal="Internal error"),
    503: documented_error(
        "The database is unavailable.",
        headers=RETRY_AFTER,
        database_unavailable=english(DATABASE_UNAVAILABLE, seconds=OUTAGE_RETRY_AFTER),
    ),
}


def create_docs_router(*, title: str) -> APIRouter:
    """ReDoc over the OpenAPI document, with and without the trailing slash."""
    router = APIRouter()

    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=OPENAPI_URL, title=f"{title} - ReDoc")

    for path in REDOC_PATHS:
        router.add_api_route(path, redoc, methods=["GET"], include_in_schema=False)
    return router
