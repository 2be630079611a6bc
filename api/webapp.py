"""The web app (`web/` at the top of the repository) as the program's HTTP server holds it: the
page, its assets and its texts, read once at start-up and kept in memory (a few dozen KB).

No build step: the files are served as they are in the repository. The assets' URLs carry a
version (a hash of every file and of the texts), so that a browser may keep an asset for a year
and still never mixes files of two versions; the page itself is revalidated on every load. The
page gets a strict Content-Security-Policy: scripts and styles from this origin only (no inline
script), plus Telegram's own script, which the page loads inside Telegram alone.

The texts are the gettext catalogs `locales/<language>/LC_MESSAGES/web.po` (symbolic msgids such
as `web-login-title`), read with Babel and served to the page as JSON. A plural text becomes an
object keyed by CLDR plural category (`one`, `few`, `many`, `other`), so that the page picks its
form with `Intl.PluralRules`. Which gettext form is which category is worked out from the
catalog's own `Plural-Forms` and the language's CLDR rules, not written down a second time here.
"""

import gettext
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from fastapi import Request
from fastapi.responses import Response

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
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


def version_of(files: dict[str, bytes], also_versioned: Iterable[bytes] = ()) -> str:
    """A version covering `files` (names and bodies) and the other bodies, for their URLs."""
    digest = hashlib.sha256()
    for name, body in files.items():
        digest.update(name.encode() + b"\0" + body + b"\0")
    for body in also_versioned:
        digest.update(body + b"\0")
    return digest.hexdigest()[:12]


def cache_control(asked: str | None, current: str) -> str:
    """Kept for a year when asked under the current version; revalidated under any other (a
    page of an earlier version still gets today's answer, and must not keep it)."""
    return FOREVER if asked == current else "no-cache"


def make_asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:20]}"')


class WebAssets:
    """The pages and their assets, in memory."""

    def __init__(self, pages: dict[str, Asset], assets: dict[str, Asset], version: str) -> None:
        self.pages = pages  # by file name: index.html (the web app), playground.html
        self.page = pages[PAGE]
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
        version = version_of(files, also_versioned)
        for name in files:  # pages (the web app's, the playground's) name versioned assets
            if name.endswith(".html"):
                files[name] = files[name].replace(VERSION_MARK, f"/web/{version}/".encode())
        pages = {
            name: make_asset(files.pop(name), MEDIA_TYPES[".html"])
            for name in [name for name in files if name.endswith(".html")]
        }
        assets = {
            name: make_asset(body, MEDIA_TYPES[Path(name).suffix]) for name, body in files.items()
        }
        return cls(pages, assets, version)


# The page's texts.
DOMAIN = "web"
LANGUAGES = ("en", "ru")  # the first is the fallback of a text missing in another language
PLURAL_SAMPLES = range(200)  # gettext rules repeat every 100 (past the first hundred or two)

Text = str | dict[str, str]


class CatalogError(Exception):
    """A catalog cannot be served as it is; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class WebTexts:
    language: str
    texts: dict[str, Text]
    body: bytes  # the JSON the page receives


def catalog_path(language: str, directory: Path = LOCALES_DIR) -> Path:
    return directory / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, domain=DOMAIN)


def plural_categories(catalog: Catalog) -> list[str]:
    """The CLDR category of each gettext plural form of the catalog, in form order: for Russian
    `one, few, many` (1 друг, 2 друга, 5 друзей), for English `one, other`."""
    assert catalog.locale is not None
    form_of = gettext.c2py(catalog.plural_expr)
    rule = Locale.parse(catalog.locale).plural_form
    categories: list[set[str]] = [set() for _ in range(catalog.num_plurals)]
    for number in PLURAL_SAMPLES:
        categories[form_of(number)].add(rule(number))
    if any(len(found) != 1 for found in categories):
        raise CatalogError(
            f"{catalog.locale}: Plural-Forms {catalog.plural_forms!r} do not match the language's "
            f"plural rules (forms meet categories {categories})"
        )
    return [found.pop() for found in categories]


def catalog_texts(catalog: Catalog) -> dict[str, Text]:
    """Every translated message of the catalog by msgid; untranslated and fuzzy ones are left out
    (the caller falls back to another language)."""
    categories = plural_categories(catalog)
    texts: dict[str, Text] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        if message.pluralizable:
            forms = list(message.string or ())
            if len(forms) == len(categories) and all(forms):
                texts[message.id[0]] = dict(zip(categories, forms, strict=True))
        elif message.string:
            texts[str(message.id)] = str(message.string)
    return texts


@cache  # read once per process: the catalogs change with a new release, not while it runs
def load_web_texts(directory: Path = LOCALES_DIR) -> Mapping[str, WebTexts]:
    """The texts of every language, each completed from the first language where it lacks one."""
    by_language = {
        language: catalog_texts(read_catalog(catalog_path(language, directory)))
        for language in LANGUAGES
    }
    fallback = by_language[LANGUAGES[0]]
    loaded = {}
    for language, texts in by_language.items():
        complete = {**fallback, **texts}
        body = json.dumps(
            {"language": language, "texts": complete}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        loaded[language] = WebTexts(language, complete, body)
    return loaded


@dataclass(frozen=True, slots=True)
class WebApp:
    """What the program serves of the web app: the page and its assets, versioned together with
    the texts of every language."""

    assets: WebAssets
    texts: Mapping[str, WebTexts]

    @classmethod
    def load(cls, directory: Path = WEB_DIR, *, locales: Path = LOCALES_DIR) -> "WebApp":
        """Read at start-up: the files and the catalogs change with a release, not while it runs."""
        texts = load_web_texts(locales)
        bodies = [found.body for found in texts.values()]
        return cls(WebAssets.load(directory, also_versioned=bodies), texts)

    def cache_control(self, version: str | None) -> str:
        """How long a browser keeps what it asked under `version` (see `cache_control`)."""
        return cache_control(version, self.assets.version)


def _not_modified(request: Request, asset: Asset) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return asset.etag in (tag.strip().removeprefix("W/") for tag in wanted.split(","))


def serve(request: Request, asset: Asset, headers: dict[str, str]) -> Response:
    """`asset` with `headers` and its ETag; 304 when the browser holds this very version."""
    headers = {**headers, "ETag": asset.etag}
    if _not_modified(request, asset):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, headers=headers, media_type=asset.media_type)
