"""ReDoc over the OpenAPI document, at /api/redoc/ with and without the trailing slash."""

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse

from api.openapi import OPENAPI_URL

REDOC_PATHS = ("/api/redoc/", "/api/redoc")


def create_docs_router(*, title: str) -> APIRouter:
    """The page, titled after the API's document."""
    router = APIRouter()

    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=OPENAPI_URL, title=f"{title} - ReDoc")

    for path in REDOC_PATHS:
        router.add_api_route(path, redoc, methods=["GET"], include_in_schema=False)
    return router
