"""What the OpenAPI document says of error answers: their bodies with examples, the headers they
carry, and the statuses any operation may answer (ReDoc over the document: api/routes/docs.py)."""

from collections.abc import Mapping
from typing import Any

from api.errors import DATABASE_UNAVAILABLE, OUTAGE_RETRY_AFTER
from api.limits import BODY_TOO_LARGE, MAX_BODY_BYTES
from api.messages import english
from api.models import ErrorMessage

OPENAPI_URL = "/api/openapi.json"


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
