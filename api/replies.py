"""How answers leave the API: a body model and its status, or a refusal `{"message": ...}`."""

from collections.abc import Mapping

from fastapi.responses import Response
from pydantic import BaseModel

from api.models import ErrorMessage


def answer(status: int, body: BaseModel, *, headers: Mapping[str, str] | None = None) -> Response:
    """`body` as compact JSON, serialised by pydantic-core in one step."""
    content = body.model_dump_json()
    return Response(content, status, headers, media_type="application/json")


def refusal(
    status: int,
    message: str,
    *,
    retry_after: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error answer; `retry_after` (seconds) becomes the `Retry-After` header."""
    extra = dict(headers or {})
    if retry_after is not None:
        extra["Retry-After"] = str(retry_after)
    return answer(status, ErrorMessage(message=message), headers=extra or None)
