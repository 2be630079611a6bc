"""The operators' view in a browser: figures, the chart drawn in the page, top inviters, search,
the member card with Block / Unblock, the CSV download; nothing of it for other members."""

import csv
import io

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from db.operators import EXPORT_COLUMNS
from db.results import InviteOutcome
from db.service import ReferralService
from delivery import ChatDelivery
from tests.conftest import Clock, join
from tests.web.conftest import OpenTab, Tab, log_in, wait_until

OPERATOR_ID = 8_000_000_001


@pytest.fixture
def service(clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock) -> ReferralService:
    """The service with an operator, and without a resend cooldown: the members of these tests
    log in through the page right after joining."""
    return ReferralService(
        pool,
        signing_key=b"test-secret",
        delivery=ChatDelivery(delay=0),
        clock=clock,
        resend_cooldown=0,
        admin_ids=[OPERATOR_ID],
    )


async def operator_tab(open_tab: OpenTab, service: ReferralService, **options: object) -> Tab:
    operator = await join(service, telegram_id=OPERATOR_ID)
    tab = await open_tab(**options)
    await tab.open()
    await log_in(tab, operator.phone)
    await tab.page.wait_for_selector("body[data-operator=yes]")
    return tab


async def test_another_member_sees_no_way_in(open_tab: OpenTab, service: ReferralService) -> None:
    tab = await open_tab()
    asked: list[str] = []
    tab.page.on("request", lambda request: asked.append(request.url))
    await tab.open()
    await log_in(tab)
    await tab.page.wait_for_selector("body[data-operator=no]")
    assert await tab.page.is_hidden("#admin-open")
    assert await tab.page.is_hidden("#screen-admin")
    # Nothing of the operators' view is asked for, so no 404 shows in a member's console.
    assert not [url for url in asked if "/api/admin/" in url or url.endswith("/admin.js")], asked


async def test_figures_chart_and_top_inviters(open_tab: OpenTab, service: ReferralService) -> None:
    inviter = await join(service)
    for _ in range(3):
        await service.invitations.activate_invite((await join(service)).id, inviter.invite_code)
    tab = await operator_tab(open_tab, service)
    page = tab.page
    await page.click("#admin-open")
    await tab.screen("admin")
    await page.wait_for_selector("#admin-stats[aria-busy=false]")
    figures = await tab.text("#admin-figures")
    assert "Members\n5" in figures and "Joined with a code\n3 (60%)" in figures
    assert await page.locator("#admin-chart rect.bar-joined").count() == 30
    assert await page.locator("#admin-chart rect.bar-activated").count() == 30
    assert await page.locator("#admin-chart text.tick").count() > 6  # both axes labelled
    summary = await page.locator("#admin-chart-summary").text_content()
    assert summary == "In 30 days: 5 joined, 3 codes activated."
    rows = page.locator("#admin-top tbody tr")
    assert await rows.count() == 1
    assert await rows.first.inner_text() == f"1\t{service.phones.referral(inviter.phone)}\t3"
    await page.click("#admin-back")
    await tab.screen("member")


async def test_search_block_and_unblock(open_tab: OpenTab, service: ReferralService) -> None:
    member = await join(service, telegram_id=8_100_000_001)
    tab = await operator_tab(open_tab, service)
    page = tab.page
    await page.click("#admin-open")
    await tab.screen("admin")
    await page.fill("#admin-query", "who?")
    await page.click("#admin-search [type=submit]")
    await wait_until(page, "document.getElementById('admin-search-status').textContent !== ''")
    assert (await tab.text("#admin-search-status")).startswith("Search by a phone number")

    await page.fill("#admin-query", member.invite_code.lower())
    await page.keyboard.press("Enter")
    card = page.locator(f".admin-card[data-member='{member.id}']")
    await card.wait_for()
    assert await tab.text("#admin-search-status") == "1 member found:"
    assert member.phone in await card.inner_text()
    await card.get_by_label("Reason for blocking (optional)").fill("sells codes")
    await card.get_by_role("button", name="Block").click()
    blocked = page.locator(f".admin-card[data-member='{member.id}']")
    await page.wait_for_selector(".member-status-blocked")
    text = await blocked.inner_text()
    assert "blocked" in text and "sells codes" in text
    newcomer = await join(service)
    refused = await service.invitations.activate_invite(newcomer.id, member.invite_code)
    assert refused.outcome is InviteOutcome.CODE_SUSPENDED

    await blocked.get_by_role("button", name="Unblock").click()
    await page.wait_for_selector(".member-status-active")
    assert (await service.invitations.activate_invite(newcomer.id, member.invite_code)).outcome is (
        InviteOutcome.ACTIVATED
    )


async def test_csv_download(open_tab: OpenTab, service: ReferralService) -> None:
    for _ in range(4):
        await join(service)
    tab = await operator_tab(open_tab, service, accept_downloads=True)
    page = tab.page
    await page.click("#admin-open")
    await tab.screen("admin")
    async with page.expect_download() as waiting:
        await page.click("#admin-export")
    download = await waiting.value
    assert download.suggested_filename.startswith("members-")
    path = await download.path()
    header, *rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert header == list(EXPORT_COLUMNS) and len(rows) == 5
    assert await tab.text("#admin-export-status") == "The file is downloaded."


async def test_russian_and_a_phone_screen(open_tab: OpenTab, service: ReferralService) -> None:
    tab = await operator_tab(
        open_tab, service, locale="ru-RU", viewport={"width": 360, "height": 740}
    )
    page = tab.page
    await page.click("#admin-open")
    await tab.screen("admin")
    await page.wait_for_selector("#admin-stats[aria-busy=false]")
    assert await tab.text("#admin-title") == "Оператор"
    assert "Участников\n1" in await tab.text("#admin-figures")
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "the operators' view scrolls sideways on a 360-px phone"


async def test_a_member_entering_a_suspended_code_is_told_so(
    open_tab: OpenTab, service: ReferralService
) -> None:
    owner = await join(service)
    await service.operators.block(owner.id, operator=OPERATOR_ID)
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    await tab.page.fill("#invite-code", owner.invite_code)
    await tab.page.click("#invite-form [type=submit]")
    await wait_until(tab.page, "document.getElementById('invite-result').textContent !== ''")
    assert await tab.text("#invite-result") == (
        f"The code {owner.invite_code} is suspended: nobody can join with it for now."
    )
