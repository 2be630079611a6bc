"""ReDoc over the OpenAPI document, at /api/redoc/ with and without the trailing slash, served
whole from this program (api/redoc/: ReDoc's standalone bundle and the script that starts it), so
that the documentation works with no internet: no CDN, no web font. The page has the web app's
Content-Security-Policy, widened only where ReDoc needs it: it draws its styles into `<style>`
elements (styled-components), allowed by a nonce drawn for each answer and handed to ReDoc's
`nonce` option, plus two fixed ones the bundle writes, by their hashes; its icons are `data:`
images; its search runs in a worker made from a `blob:`. Scripts are still this origin's files
only, and nothing may be asked of another origin (the bundle's Redocly logo, on a CDN, is refused
and ReDoc then leaves it out)."""

import secrets
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from api.openapi import OPENAPI_URL
from api.webapp import (
    CONTENT_SECURITY_POLICY,
    MEDIA_TYPES,
    PAGE_HEADERS,
    Asset,
    cache_control,
    make_asset,
    serve,
    version_of,
)

REDOC_PATHS = ("/api/redoc/", "/api/redoc")
REDOC_DIR = Path(__file__).resolve().parent.parent / "redoc"
REDOC_FILES = ("redoc.standalone.js", "docs.js")
# The two `<style>` elements the bundle writes as they are (the first is empty).
FIXED_STYLES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' "
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='"
)
ASSETS_PATH = "/api/redoc/{version}/{name}"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" href="/web/{web_version}/icon.svg" type="image/svg+xml">
</head>
<body>
  <div id="redoc" data-spec-url="{spec_url}" data-nonce="{nonce}"></div>
  <script src="{bundle}"></script>
  <script src="{start}"></script>
</body>
</html>
"""


def load_redoc_assets() -> tuple[dict[str, Asset], str]:
    """The bundle and its starter, in memory, and a version covering both (their URLs carry it,
    so a browser keeps them for a year and never mixes two versions)."""
    bodies = {name: (REDOC_DIR / name).read_bytes() for name in REDOC_FILES}
    assets = {name: make_asset(body, MEDIA_TYPES[".js"]) for name, body in bodies.items()}
    return assets, version_of(bodies)


def create_docs_router(*, title: str, web_version: str) -> APIRouter:
    """The page, titled after the API's document; `web_version` is the web app's, for its icon."""
    router = APIRouter()
    assets, version = load_redoc_assets()
    address = {name: ASSETS_PATH.format(version=version, name=name) for name in REDOC_FILES}

    async def redoc() -> Response:
        nonce = secrets.token_urlsafe(16)
        page = PAGE.format(
            title=f"{title} - ReDoc",
            web_version=web_version,
            spec_url=OPENAPI_URL,
            nonce=nonce,
            bundle=address["redoc.standalone.js"],
            start=address["docs.js"],
        )
        policy = (
            CONTENT_SECURITY_POLICY.replace(
                "style-src 'self'", f"style-src 'self' 'nonce-{nonce}' {FIXED_STYLES}"
            ).replace("img-src 'self' blob:", "img-src 'self' blob: data:")
            + "; worker-src blob:"
        )
        headers = {**PAGE_HEADERS, "Content-Security-Policy": policy}
        return Response(page, headers=headers, media_type=MEDIA_TYPES[".html"])

    async def redoc_asset(request: Request, version_asked: str, name: str) -> Response:
        found = assets.get(name)
        if found is None:
            raise HTTPException(404)
        cache = cache_control(version_asked, version)
        return serve(request, found, {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})

    for path in REDOC_PATHS:
        router.add_api_route(path, redoc, methods=["GET"], include_in_schema=False)
    router.add_api_route(
        "/api/redoc/{version_asked}/{name}",
        redoc_asset,
        methods=["GET"],
        include_in_schema=False,
    )
    return router
