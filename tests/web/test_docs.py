"""The API documentation (ReDoc at /api/redoc/) in a browser with every request to another
origin blocked: it renders from this server alone, under the web app's CSP."""

from tests.web.conftest import OpenTab


async def test_the_api_documentation_renders_offline(open_tab: OpenTab) -> None:
    tab = await open_tab()
    # The bundle's one outside address, Redocly's logo, is refused by the page's policy (ReDoc
    # then leaves the picture out): the browser says so in the console, and asks nobody.
    tab.expected_console.append("'https://cdn.redoc.ly/redoc/logo-mini.svg' violates")
    await tab.open("/api/redoc/")
    # An operation's summary, as ReDoc draws it in its side menu and in the operation's heading.
    heading = tab.page.locator("h2", has_text="Request a verification code for a phone")
    await heading.first.wait_for(timeout=20_000)
    assert await heading.first.is_visible()
    assert tab.foreign_requests == []
