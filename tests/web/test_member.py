"""The member page in a browser: code, link, QR code, sharing, invite codes with every outcome,
the list of referrals page by page, languages, deleting one's data, and the layout on a phone."""

import asyncio

import pytest

from db.results import Member
from db.service import ReferralService
from tests.conftest import Clock, join
from tests.web.conftest import OpenTab, ServeApp, Tab, log_in, member_page_loaded, wait_until


async def open_member_page(
    open_tab: OpenTab, service: ReferralService, clock: Clock, member: Member, **options: object
) -> Tab:
    """A tab logged in as an existing member."""
    clock.advance(service.members.resend_cooldown)  # their last code was sent when they joined
    tab = await open_tab(**options)
    await tab.open()
    await log_in(tab, member.phone)
    return tab


async def invite(
    service: ReferralService, clock: Clock, inviter: Member, count: int
) -> list[Member]:
    """`count` new members who joined with the inviter's code, a minute apart."""
    joined = []
    for _ in range(count):
        member = await join(service)
        clock.advance(60)
        await service.invitations.activate_invite(member.id, inviter.invite_code)
        joined.append(member)
    return joined


async def test_the_member_page_shows_code_link_qr_and_referrals(
    open_tab: OpenTab, service: ReferralService, clock: Clock
) -> None:
    member = await join(service)
    friends = await invite(service, clock, member, 3)
    tab = await open_member_page(open_tab, service, clock, member)
    page = tab.page
    assert await tab.text("#own-code") == member.invite_code
    link = f"{tab.app.url}/?ref={member.invite_code}"
    assert await page.input_value("#invite-link") == link
    assert await tab.text("#invite-link-kind") == "Opens this site with your code."
    await wait_until(page, "document.getElementById('qr').naturalWidth > 0")
    assert await page.get_attribute("#qr", "alt") == "QR code of your invite link"
    assert await tab.text("#refs-count") == "3 friends joined with your code"
    items = page.locator("#refs-list li")
    assert await items.count() == 3
    phones = [await items.nth(i).locator(".ref-phone").inner_text() for i in range(3)]
    assert phones == [service.phones.referral(friend.phone) for friend in friends]
    dates = [await items.nth(i).locator("time").get_attribute("datetime") for i in range(3)]
    assert all(dates) and dates == sorted(dates)
    assert await page.is_hidden("#refs-more")
    assert await page.is_visible("#invite-form"), "no inviter yet: the form is offered"


async def test_a_member_with_nobody_yet_sees_an_empty_list(open_tab: OpenTab) -> None:
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    assert await tab.page.is_visible("#refs-empty")
    assert await tab.page.is_hidden("#refs-count")


async def test_with_a_bot_the_link_is_its_deep_link(
    open_tab: OpenTab, serve_app: ServeApp, service: ReferralService
) -> None:
    app = await serve_app(bot_username="club_bot")
    tab = await open_tab(app=app)
    await tab.open()
    await log_in(tab)
    code = await tab.text("#own-code")
    assert await tab.page.input_value("#invite-link") == f"https://t.me/club_bot?start={code}"
    assert await tab.text("#invite-link-kind") == "Opens our Telegram bot with your code."


NOT_A_CODE = (
    "Not an invite code: a code is 6 characters, letters A\u2013Z and digits 2\u20139, without "
    "0, O, 1 and I."
)


async def test_the_form_says_what_a_code_looks_like_as_one_types(open_tab: OpenTab) -> None:
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    page = tab.page
    posted: list[str] = []
    page.on(
        "request", lambda request: posted.append(request.url) if request.method == "POST" else None
    )
    await page.type("#invite-code", "abc")
    assert await tab.text("#invite-result") == "", "a code on its way is not wrong yet"
    await page.click("#invite-form [type=submit]")
    assert await tab.text("#invite-result") == NOT_A_CODE
    await page.fill("#invite-code", "")
    await page.type("#invite-code", "AB")
    assert await tab.text("#invite-result") == ""
    await page.type("#invite-code", "O")  # the letter O is never in a code
    assert await tab.text("#invite-result") == NOT_A_CODE
    assert await page.get_attribute("#invite-code", "aria-invalid") == "true"
    await page.fill("#invite-code", "O0O0O0")
    await page.click("#invite-form [type=submit]")
    assert await tab.text("#invite-result") == NOT_A_CODE
    assert posted == [], "a malformed code is not sent"


async def test_entering_a_code_tells_each_outcome(
    open_tab: OpenTab, service: ReferralService, clock: Clock
) -> None:
    member, other = await join(service), await join(service)
    [below] = await invite(service, clock, member, 1)
    tab = await open_member_page(open_tab, service, clock, member)
    page = tab.page

    async def enter(code: str) -> str:
        await page.fill("#invite-code", code)
        await page.click("#invite-form [type=submit]")
        await wait_until(
            page,
            "document.getElementById('invite-result').textContent !== ''"
            " && !document.querySelector('#invite-form [type=submit]').disabled",
        )
        text = await tab.text("#invite-result")
        await page.evaluate("document.getElementById('invite-result').textContent = ''")
        return text

    assert await enter("   ") == "Enter an invite code."
    assert await enter(member.invite_code.lower()) == (
        "That is your own code. Enter the code of the person who invited you."
    )
    assert await enter("zzzzzz") == (
        "Nobody has the code ZZZZZZ. An invite code is 6 characters: letters A\u2013Z and digits "
        "2\u20139, without 0, O, 1 and I."
    )
    assert await enter("O0") == NOT_A_CODE
    assert await enter(below.invite_code) == (
        f"The code {below.invite_code} belongs to someone who joined through you: that would "
        "make a circle."
    )
    assert await page.get_attribute("#invite-code", "aria-invalid") == "true"
    await page.fill("#invite-code", f" {other.invite_code.lower()} ")
    await page.click("#invite-form [type=submit]")
    await page.wait_for_selector("#invite-form", state="hidden")
    assert await tab.text("#joined-with") == f"You joined with the code {other.invite_code}."
    assert await tab.text("#invite-result") == "", "the outcome is said once"
    said = await page.locator("#screen-member").inner_text()
    assert said.count(other.invite_code) == 1, said


async def test_a_code_registered_meanwhile_is_told_with_which_code(
    open_tab: OpenTab, service: ReferralService, clock: Clock
) -> None:
    member, first, second = await join(service), await join(service), await join(service)
    tab = await open_member_page(open_tab, service, clock, member)
    await service.invitations.activate_invite(
        member.id, first.invite_code
    )  # elsewhere: the bot, say
    await tab.page.fill("#invite-code", second.invite_code)
    await tab.page.click("#invite-form [type=submit]")
    await tab.page.wait_for_selector("#joined-with:not([hidden])")
    assert await tab.text("#invite-result") == (
        f"You have already joined with the code {first.invite_code}; it cannot be changed."
    )
    assert await tab.text("#joined-with") == f"You joined with the code {first.invite_code}."


async def test_the_list_comes_in_pages(
    open_tab: OpenTab, service: ReferralService, clock: Clock
) -> None:
    member = await join(service)
    friends = await invite(service, clock, member, 45)
    tab = await open_member_page(open_tab, service, clock, member)
    page = tab.page
    items = page.locator("#refs-list li")
    assert await tab.text("#refs-count") == "45 friends joined with your code"
    assert await items.count() == 20
    assert await tab.text("#refs-shown") == "Showing 20 of 45"
    await page.click("#refs-more")
    await wait_until(page, "document.querySelectorAll('#refs-list li').length === 40")
    assert await tab.text("#refs-shown") == "Showing 40 of 45"
    await page.click("#refs-more")
    await wait_until(page, "document.querySelectorAll('#refs-list li').length === 45")
    assert await page.is_hidden("#refs-more")
    shown = await page.locator("#refs-list .ref-phone").all_inner_texts()
    assert shown == [service.phones.referral(friend.phone) for friend in friends]
    assert await page.evaluate("document.activeElement.closest('li') !== null"), (
        "the keyboard goes on from the first new entry"
    )


async def test_copy_and_share(open_tab: OpenTab) -> None:
    tab = await open_tab()
    await tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await tab.open()
    await log_in(tab)
    page = tab.page
    code = await tab.text("#own-code")
    link = await page.input_value("#invite-link")
    await page.click("#copy-code")
    await wait_until(page, "document.getElementById('copy-status').textContent !== ''")
    assert await tab.text("#copy-status") == "Code copied."
    assert await page.evaluate("navigator.clipboard.readText()") == code
    await page.click("#copy-link")
    await wait_until(page, "document.getElementById('copy-status').textContent === 'Link copied.'")
    assert await page.evaluate("navigator.clipboard.readText()") == link

    # Without the Web Share API (desktop Linux), Share copies the link.
    await page.evaluate("navigator.clipboard.writeText('')")
    assert await page.evaluate("'share' in navigator") is False
    await page.click("#share")
    await wait_until(page, "navigator.clipboard.readText().then((text) => text !== '')")
    assert await page.evaluate("navigator.clipboard.readText()") == link


async def test_share_uses_the_web_share_api_where_there_is_one(open_tab: OpenTab) -> None:
    tab = await open_tab()
    await tab.context.add_init_script(
        "window.shared = []; navigator.share = async (data) => { window.shared.push(data); };"
    )
    await tab.open()
    await log_in(tab)
    code = await tab.text("#own-code")
    await tab.page.click("#share")
    await wait_until(tab.page, "window.shared.length === 1")
    [shared] = await tab.page.evaluate("window.shared")
    assert shared == {
        "title": "Referral club",
        "text": f"Join me with my invite code {code}",
        "url": await tab.page.input_value("#invite-link"),
    }


async def test_the_language_switch_redraws_the_page_and_is_remembered(
    open_tab: OpenTab, service: ReferralService, clock: Clock
) -> None:
    member = await join(service)
    await invite(service, clock, member, 2)
    tab = await open_member_page(open_tab, service, clock, member)
    page = tab.page
    await page.click("[data-lang=ru]")
    await wait_until(page, "document.documentElement.lang === 'ru'")
    assert await tab.text("#refs-count") == "По вашему коду присоединились 2 друга"
    assert await tab.text("#own-code-title") == "ВАШ КОД ПРИГЛАШЕНИЯ"  # drawn in capitals
    assert await page.title() == "Реферальный клуб"
    assert await page.get_attribute("[data-lang=ru]", "aria-pressed") == "true"
    for _ in range(100):  # the choice is kept on the member too: the bot speaks it to them
        profile = await service.members.profile(member.id)
        if profile is not None and profile.member.language == "ru":
            break
        await asyncio.sleep(0.05)
    assert profile is not None and profile.member.language == "ru"
    assert await page.get_attribute("#qr", "alt") == "QR-код вашей ссылки-приглашения"
    date = await page.locator("#refs-list time").first.inner_text()
    assert any(
        month in date
        for month in (
            "янв",
            "фев",
            "мар",
            "апр",
            "мая",
            "июн",
            "июл",
            "авг",
            "сен",
            "окт",
            "ноя",
            "дек",
        )
    )
    await page.reload()
    await member_page_loaded(tab)
    assert await tab.text("#refs-count") == "По вашему коду присоединились 2 друга"
    await page.click("[data-lang=en]")
    await wait_until(page, "document.documentElement.lang === 'en'")
    assert await tab.text("#refs-count") == "2 friends joined with your code"


@pytest.mark.parametrize(
    ("count", "english", "russian"),
    [
        (1, "1 friend joined with your code", "По вашему коду присоединился 1 друг"),
        (2, "2 friends joined with your code", "По вашему коду присоединились 2 друга"),
        (5, "5 friends joined with your code", "По вашему коду присоединились 5 друзей"),
        (11, "11 friends joined with your code", "По вашему коду присоединились 11 друзей"),
        (21, "21 friends joined with your code", "По вашему коду присоединился 21 друг"),
        (
            1000,
            "1,000 friends joined with your code",
            "По вашему коду присоединились 1\u00a0000 друзей",
        ),
    ],
)
async def test_plurals_and_numbers_follow_the_language(
    open_tab: OpenTab, count: int, english: str, russian: str
) -> None:
    tab = await open_tab()
    await tab.open()
    await tab.screen("phone")
    texts = {}
    for language in ("en", "ru"):
        texts[language] = await tab.page.evaluate(
            """async ([language, count]) => {
                const version = document.querySelector('script[type=module]').src;
                const i18n = await import(version.replace('app.js', 'i18n.js'));
                await i18n.useLanguage(language);
                return i18n.t('web-refs-count', { count });
            }""",
            [language, count],
        )
    assert texts == {"en": english, "ru": russian}


async def test_the_browser_language_is_the_default(open_tab: OpenTab) -> None:
    tab = await open_tab(locale="ru-RU")
    await tab.open()
    await tab.screen("phone")
    assert await tab.text("#phone-title") == "Вход"
    assert await tab.page.evaluate("document.documentElement.lang") == "ru"
    english = await open_tab(locale="de-DE")
    await english.open()
    await english.screen("phone")
    assert await english.text("#phone-title") == "Log in"


async def test_delete_asks_for_confirmation_and_cancel_keeps_everything(
    open_tab: OpenTab, service: ReferralService
) -> None:
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    code = await tab.text("#own-code")
    await tab.page.click("#delete-open")
    assert await tab.page.is_visible("#delete-dialog")
    assert await tab.text("#delete-title") == "Delete your data?"
    assert await tab.page.evaluate("document.activeElement.textContent") == "Cancel"
    await tab.page.keyboard.press("Escape")
    assert await tab.page.is_hidden("#delete-dialog")
    await tab.page.click("#delete-open")
    await tab.page.click("#delete-dialog [value=cancel]")
    assert await tab.page.is_hidden("#delete-dialog")
    assert await service.members.member_by_invite_code(code) is not None


async def test_delete_my_data_erases_the_member_and_ends_the_session(
    open_tab: OpenTab, service: ReferralService
) -> None:
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    page = tab.page
    code = await tab.text("#own-code")
    token = await page.evaluate("sessionStorage.getItem('referral.token')")
    await page.click("#delete-open")
    async with page.expect_response(lambda response: response.request.method == "DELETE") as sent:
        await page.click("#delete-confirm")
    assert (await sent.value).status == 204
    await tab.screen("phone")
    assert await tab.text("#notice") == "Your data has been deleted."
    assert await page.evaluate("sessionStorage.getItem('referral.token')") is None
    answer = await page.evaluate(
        """async (token) => (await fetch('/api/data/', {
            headers: { Authorization: `Bearer ${token}` },
        })).status""",
        token,
    )
    assert answer in (401, 404), "the token is dead"
    assert await service.members.member_by_invite_code(code) is None


async def test_a_failed_delete_is_told_in_the_dialog(open_tab: OpenTab) -> None:
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    tab.expected_console.append("status of 500")
    await tab.page.route(
        "**/api/data/",
        lambda route: (
            route.fulfill(status=500, json={"message": "Internal error"})
            if route.request.method == "DELETE"
            else route.continue_()
        ),
    )
    await tab.page.click("#delete-open")
    await tab.page.click("#delete-confirm")
    await tab.page.wait_for_selector("#delete-error:not([hidden])")
    assert (
        await tab.text("#delete-error") == "Your data could not be deleted. Please try again later."
    )
    assert await tab.page.is_visible("#delete-dialog")


async def test_an_expired_session_goes_back_to_login(open_tab: OpenTab) -> None:
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    await tab.page.evaluate("sessionStorage.setItem('referral.token', 'expired.token.value')")
    await tab.page.reload()
    await tab.screen("phone")
    assert await tab.text("#notice") == "Your session has ended. Please log in again."


NO_HORIZONTAL_SCROLL = (
    "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
)
UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, button, a, [role=group]')]
    .filter((element) => element.offsetParent !== null)
    .filter((element) => {
        const named = element.getAttribute('aria-label') || element.textContent.trim()
            || (element.labels && element.labels.length) || element.getAttribute('title');
        return !named;
    })
    .map((element) => element.outerHTML.slice(0, 80))"""


@pytest.mark.parametrize("language", ["en-US", "ru-RU"])
async def test_a_360_px_phone_needs_no_horizontal_scroll(
    open_tab: OpenTab, service: ReferralService, clock: Clock, serve_app: ServeApp, language: str
) -> None:
    app = await serve_app(bot_username="a_rather_long_referral_club_bot")
    member = await join(service)
    await invite(service, clock, member, 25)
    clock.advance(service.members.resend_cooldown)
    tab = await open_tab(
        app=app,
        viewport={"width": 360, "height": 740},
        locale=language,
        is_mobile=True,
        has_touch=True,
    )
    await tab.open()
    await tab.screen("phone")
    assert await tab.page.evaluate(NO_HORIZONTAL_SCROLL)
    assert await tab.page.evaluate(UNNAMED_CONTROLS) == []
    await log_in(tab, member.phone)
    assert await tab.page.evaluate(NO_HORIZONTAL_SCROLL)
    assert await tab.page.evaluate(UNNAMED_CONTROLS) == []
    await tab.page.click("#refs-more")
    await wait_until(tab.page, "document.querySelectorAll('#refs-list li').length === 25")
    assert await tab.page.evaluate(NO_HORIZONTAL_SCROLL)
    await tab.page.click("#delete-open")
    assert await tab.page.evaluate(NO_HORIZONTAL_SCROLL)


async def test_the_member_page_shows_the_next_milestone_and_the_leaders(
    open_tab: OpenTab, service: ReferralService, clock: Clock
) -> None:
    leader, member = await join(service), await join(service)
    clock.advance(-40 * 86400)  # the leader's friends joined in an earlier month
    await invite(service, clock, leader, 8)
    clock.advance(40 * 86400)
    await invite(service, clock, member, 7)
    tab = await open_member_page(open_tab, service, clock, member)
    page = tab.page
    await wait_until(page, "document.querySelectorAll('#leaders-all-time li').length === 2")
    assert await tab.text("#milestone") == "Next goal: 10 (3 to go)."
    month, all_time = page.locator("#leaders li"), page.locator("#leaders-all-time li")
    assert await month.all_inner_texts() == [f"{service.phones.referral(member.phone)}: 7 (you)"]
    assert await all_time.all_inner_texts() == [
        f"{service.phones.referral(leader.phone)}: 8",
        f"{service.phones.referral(member.phone)}: 7 (you)",
    ]
    assert await page.locator("#leaders-all-time li[aria-current=true]").count() == 1
    assert await tab.text("#place") == "You: #1, 7 friends."
    assert await tab.text("#place-all-time") == "You: #2, 7 friends."
    await page.click("[data-lang=ru]")
    await wait_until(page, "document.documentElement.lang === 'ru'")
    assert await tab.text("#place-all-time") == "Вы: 2-е место, 7 друзей."
    assert await tab.text("#milestone") == "До следующей цели (10) осталось 3 друга."


async def test_empty_boards_say_so_and_joining_refreshes_the_figures(
    open_tab: OpenTab, service: ReferralService, clock: Clock
) -> None:
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    page = tab.page
    await page.wait_for_selector("#leaders-empty:not([hidden])")
    assert await tab.text("#leaders-empty") == "Nobody is on this board yet."
    assert await tab.text("#leaders-all-time-empty") == "Nobody is on this board yet."
    assert await tab.text("#place") == "", "no 'You: none yet.' over an empty board"

    inviter = await join(service)
    await invite(service, clock, inviter, 1)
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    page = tab.page
    shown = f"{service.phones.referral(inviter.phone)}: "
    await wait_until(page, "document.querySelectorAll('#leaders li').length === 1")
    assert await page.locator("#leaders li").all_inner_texts() == [shown + "1"]
    assert await tab.text("#place") == (
        "You are not on this board yet: each friend who joins with your code counts."
    )
    await page.fill("#invite-code", inviter.invite_code)
    await page.click("#invite-form [type=submit]")
    await wait_until(page, f"document.getElementById('leaders').textContent === {shown + '2'!r}")
