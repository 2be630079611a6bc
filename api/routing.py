"""Routes at the original API's paths, which end in a slash, answered without the slash too; and
the methods a path allows."""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Operators' paths (api/routes/admin.py): to anybody else they do not exist.
ADMIN_PREFIX = "/api/admin"


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


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


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods that the routes answer at the request's path, for the `Allow` header of a 405:
    a path served by several routes (GET and POST /api/data/) allows the methods of them all.
    Asked of the routes themselves, so an included router's routes count as well."""
    return [
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]
