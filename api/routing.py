"""Routes at the original API's paths, which end in a slash, answered without the slash too."""

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def slash_optional(
    router: APIRouter,
    path: str,
    *,
    method: str,
    operation_id: str,
    summary: str,
    response_model: Any,
    status_code: int = 200,
    response_description: str = "Successful Response",
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Register the endpoint at `path/` (documented) and at `path` (not documented), so that a
    client that drops the slash is answered directly instead of redirected."""

    def register(endpoint: Endpoint) -> Endpoint:
        for route_path, documented in ((f"{path}/", True), (path, False)):
            router.add_api_route(
                route_path,
                endpoint,
                methods=[method],
                operation_id=operation_id,
                summary=summary,
                response_model=response_model,
                status_code=status_code,
                response_description=response_description,
                responses=responses,
                include_in_schema=documented,
            )
        return endpoint

    return register
