"""The web app as the HTTP server serves it: the page with its Content-Security-Policy, the
versioned assets and their caching, the texts, and what the page is told about the server."""

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from api import create_app
from api.webapp import WEB_DIR, WebAssets
from db.codes import INVITE_ALPHABET, INVITE_LENGTH
from db.service import ReferralService
from tests.api.conftest import api_settings, http_client

FIRST_LOAD_LIMIT = 100 * 1024  # bytes the page may take to show its first screen, uncompressed
ON_DEMAND = {"admin.js"}  # imported by app.js only once an operator has logged in
PLAYGROUND = {"playground.js", "entities.js"}  # the playground's page, not the web app's


class PageParts(HTMLParser):
    """What the page loads, and anything a strict CSP would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.inline.append(f"<{tag} {name}>")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = True
            if not named.get("src"):
                self.inline.append("<script> without src")
        for attribute in ("src", "href"):
            value = named.get(attribute)
            if value and value.startswith("/web/"):
                self.assets.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script")


async def test_the_page_is_served_at_the_root_with_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/", "/?ref=K7M2QX"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        policy = response.headers["content-security-policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["script-src"] == "'self' https://telegram.org"
        assert directives["style-src"] == "'self'"
        assert "unsafe" not in policy
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"
    parts = PageParts()
    parts.feed(response.text)
    assert parts.inline == [], "the CSP allows no inline script or style"
    assert "https://" not in response.text.split("</head>")[0], "no CDN"


async def test_every_asset_is_versioned_and_kept_for_a_year(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    parts = PageParts()
    parts.feed(page.text)
    versions = {re.match(r"/web/([^/]+)/", asset).group(1) for asset in parts.assets}  # type: ignore[union-attr]
    assert len(versions) == 1
    for asset in set(parts.assets):
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["etag"]
    script = await client.get(next(asset for asset in parts.assets if asset.endswith("app.js")))
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"


async def test_every_module_is_asked_for_at_once(client: httpx.AsyncClient) -> None:
    """Each module the entry point imports is preloaded, so none waits for the one importing it;
    the operators' view is not, nor imported before an operator logs in."""
    page = (await client.get("/")).text
    preloaded = set(re.findall(r'rel="modulepreload" href="/web/[^/]+/([\w-]+\.js)"', page))
    entry = re.findall(r'<script type="module" src="/web/[^/]+/([\w-]+\.js)"', page)
    assert entry == ["app.js"]
    modules = {module.name for module in WEB_DIR.glob("*.js")} - PLAYGROUND
    assert preloaded == modules - {"app.js"} - ON_DEMAND
    static_imports = re.findall(r"from '\./([\w-]+\.js)'", (WEB_DIR / "app.js").read_text())
    assert static_imports and not ON_DEMAND & set(static_imports)


async def test_an_asset_under_another_version_is_revalidated(client: httpx.AsyncClient) -> None:
    response = await client.get("/web/0ld/styles.css")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"


async def test_an_unchanged_file_is_not_sent_again(client: httpx.AsyncClient) -> None:
    first = await client.get("/")
    again = await client.get("/", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    changed = await client.get("/", headers={"If-None-Match": '"something else"'})
    assert changed.status_code == 200


def test_the_version_changes_with_any_file_or_text(tmp_path: Path) -> None:
    for source in WEB_DIR.iterdir():
        (tmp_path / source.name).write_bytes(source.read_bytes())
    before = WebAssets.load(tmp_path, also_versioned=[b"texts"])
    assert WebAssets.load(tmp_path, also_versioned=[b"texts"]).version == before.version
    assert WebAssets.load(tmp_path, also_versioned=[b"other texts"]).version != before.version
    (tmp_path / "styles.css").write_text("body {}")
    after = WebAssets.load(tmp_path, also_versioned=[b"texts"])
    assert after.version != before.version
    assert f"/web/{after.version}/app.js".encode() in after.page.body


async def test_the_first_screen_loads_in_under_100_kb(client: httpx.AsyncClient) -> None:
    """The page, every asset it names or imports, and what it fetches before the first screen."""
    page = await client.get("/")
    parts = PageParts()
    parts.feed(page.text)
    loaded = {"/": len(page.content)}
    for asset in parts.assets:
        loaded[asset] = len((await client.get(asset)).content)
    prefix = parts.assets[0].rsplit("/", 1)[0]
    for module in WEB_DIR.glob("*.js"):
        if module.name not in ON_DEMAND | PLAYGROUND:
            loaded.setdefault(f"{prefix}/{module.name}", module.stat().st_size)
    version = prefix.rsplit("/", 1)[1]
    loaded["texts"] = len((await client.get(f"/api/texts/en/?v={version}")).content)
    loaded["description"] = len((await client.get("/api/web-app/")).content)
    assert sum(loaded.values()) < FIRST_LOAD_LIMIT, loaded


async def test_texts_come_per_language_with_plurals_by_category(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    version = re.search(r"/web/([^/]+)/app\.js", page.text).group(1)  # type: ignore[union-attr]
    russian = await client.get(f"/api/texts/ru/?v={version}")
    assert russian.status_code == 200
    assert russian.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert russian.headers["content-language"] == "ru"
    body = russian.json()
    assert body["language"] == "ru"
    assert body["texts"]["web-login-title"] == "Вход"
    assert set(body["texts"]["web-refs-count"]) == {"one", "few", "many"}
    english = (await client.get("/api/texts/en")).json()
    assert set(english["texts"]["web-refs-count"]) == {"one", "other"}
    assert set(english["texts"]) == set(body["texts"])
    unversioned = await client.get("/api/texts/en/")
    assert unversioned.headers["cache-control"] == "no-cache"
    unknown = await client.get("/api/texts/de/")
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "No texts in this language; there are: en, ru."}


async def test_the_page_is_told_how_this_server_works(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/web-app/")
    assert response.status_code == 200
    assert response.json() == {
        "bot_username": None,
        "invite_link": "http://testserver/?ref={code}",
        "code_delivery": "chat",
        "code_length": 4,
        "invite_code_alphabet": INVITE_ALPHABET,
        "invite_code_length": INVITE_LENGTH,
        "languages": ["en", "ru"],
        "default_language": "en",
    }


@pytest.mark.parametrize(
    ("bot_username", "web_app_url", "link"),
    [
        ("club_bot", None, "https://t.me/club_bot?start={code}"),
        ("club_bot", "https://club.example/", "https://t.me/club_bot?start={code}"),
        (None, "https://club.example/app", "https://club.example/app?ref={code}"),
    ],
)
async def test_invite_links_point_to_the_bot_when_it_runs(
    tmp_path: Path,
    service: ReferralService,
    bot_username: str | None,
    web_app_url: str | None,
    link: str,
) -> None:
    settings = api_settings(tmp_path, web_app_url=web_app_url)
    app = create_app(settings, service, bot_username=bot_username)
    async with http_client(app) as client:
        description = (await client.get("/api/web-app")).json()
    assert description["invite_link"] == link
    assert description["bot_username"] == bot_username
