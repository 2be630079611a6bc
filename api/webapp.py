"""The web app's files (`web/` at the top of the repository), served by the program's HTTP server:
the page at `/`, its assets at `/web/<version>/<file>`.

No build step: the files are served as they are in the repository, read once at start-up. The
assets' URLs carry a version (a hash of every file and of the texts), so that a browser may keep
an asset for a year and still never mixes files of two versions; the page itself is revalidated
on every load. The page gets a strict Content-Security-Policy: scripts and styles from this
origin only (no inline script), plus Telegram's own script, which the page loads inside
Telegram alone.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PAGE = "index.html"
VERSION_MARK = b"/web/@version/"  # in index.html: where the assets' versioned prefix goes
TELEGRAM_SCRIPT_ORIGIN = "https://telegram.org"
# Telegram Web (web.telegram.org/k/ and /a/) shows a Mini App in a frame; other clients use a
# webview of their own.
TELEGRAM_WEB_ORIGIN = "https://web.telegram.org"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        f"script-src 'self' {TELEGRAM_SCRIPT_ORIGIN}",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        f"frame-ancestors 'self' {TELEGRAM_WEB_ORIGIN}",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
FOREVER = "public, max-age=31536000, immutable"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:20]}"')


class WebAssets:
    """The page and its assets, in memory (the whole app is a few dozen KB)."""

    def __init__(self, page: Asset, assets: dict[str, Asset], version: str) -> None:
        self.page = page
        self.assets = assets
        self.version = version

    @classmethod
    def load(
        cls, directory: Path = WEB_DIR, *, also_versioned: Iterable[bytes] = ()
    ) -> "WebAssets":
        """Read `directory`; `also_versioned` are other bodies the version covers (the texts)."""
        files = {
            path.name: path.read_bytes()
            for path in sorted(directory.iterdir())
            if path.is_file() and path.suffix in MEDIA_TYPES
        }
        digest = hashlib.sha256()
        for name, body in files.items():
            digest.update(name.encode() + b"\0" + body + b"\0")
        for body in also_versioned:
            digest.update(body + b"\0")
        version = digest.hexdigest()[:12]
        page = files.pop(PAGE).replace(VERSION_MARK, f"/web/{version}/".encode())
        assets = {
            name: _asset(body, MEDIA_TYPES[Path(name).suffix]) for name, body in files.items()
        }
        return cls(_asset(page, MEDIA_TYPES[".html"]), assets, version)


def _not_modified(request: Request, asset: Asset) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return asset.etag in (tag.strip().removeprefix("W/") for tag in wanted.split(","))


def _serve(request: Request, asset: Asset, headers: dict[str, str]) -> Response:
    headers = {**headers, "ETag": asset.etag}
    if _not_modified(request, asset):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, headers=headers, media_type=asset.media_type)


def _assets(request: Request) -> WebAssets:
    assets: WebAssets = request.app.state.web_assets
    return assets


async def page(request: Request) -> Response:
    """The web app: one page, whatever its query (`?ref=CODE`) or fragment (Telegram's)."""
    return _serve(request, _assets(request).page, PAGE_HEADERS)


async def asset(request: Request, version: str, name: str) -> Response:
    """An asset; kept for a year under the current version, revalidated under any other (a page
    of an earlier version still gets today's file, and must not keep it)."""
    assets = _assets(request)
    found = assets.assets.get(name)
    if found is None:
        raise HTTPException(404)
    cache = FOREVER if version == assets.version else "no-cache"
    return _serve(request, found, {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})


def create_web_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    router.add_api_route("/", page, methods=["GET", "HEAD"])
    router.add_api_route("/web/{version}/{name}", asset, methods=["GET", "HEAD"])
    return router
