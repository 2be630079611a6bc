"""Logging in through the web app in a browser: phone, code, and a `?ref=` link carried through."""

import re

from db.phones import mask_phone
from db.service import ReferralService
from tests.conftest import Clock, join, new_phone
from tests.web.conftest import OpenTab, Tab, log_in, member_page_loaded, wait_until


async def ask_for_code(tab: Tab, phone: str) -> str:
    """Type the phone and press Enter (keyboard only); the code the demo mode shows."""
    await tab.screen("phone")
    await tab.page.focus("#phone")
    await tab.page.keyboard.type(phone)
    await tab.page.keyboard.press("Enter")
    await tab.screen("code")
    return (await tab.text("#code-demo")).rsplit(" ", 1)[-1]


async def test_login_with_a_wrong_then_the_right_code(
    open_tab: OpenTab, service: ReferralService
) -> None:
    tab = await open_tab()
    await tab.open()
    page = tab.page
    await tab.screen("phone")
    await page.click("#phone-form [type=submit]")
    assert await tab.text("#phone-error") == "Enter your phone number."
    await page.fill("#phone", "12")
    await page.click("#phone-form [type=submit]")
    await wait_until(page, "document.getElementById('phone-error').textContent.includes('phone')")
    assert "does not look like a phone number" in await tab.text("#phone-error")
    assert await page.get_attribute("#phone", "aria-invalid") == "true"
    await page.fill("#phone", "")

    phone = new_phone()
    code = await ask_for_code(tab, phone)
    assert await tab.text("#code-where") == (
        f"We sent a 4-digit code to {phone}. This is a demo server: instead of a text message, "
        "the code is shown below."
    )
    assert await tab.text("#code-valid") == "The code is valid for 5 minutes."
    assert await page.evaluate("document.activeElement.id") == "code"
    assert await page.is_disabled("#resend")
    assert re.fullmatch(r"Available in [01]:\d\d", await tab.text("#resend-wait"))

    await page.keyboard.type("12")
    await page.keyboard.press("Enter")
    assert await tab.text("#code-error") == "The code is 4 digits."
    wrong = "0000" if code != "0000" else "1111"
    await page.fill("#code", wrong)
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#code-error:not([hidden])")
    assert await tab.text("#code-error") == "Wrong code. 4 attempts left."
    await page.fill("#code", code)
    await page.keyboard.press("Enter")
    await member_page_loaded(tab)

    own_code = await tab.text("#own-code")
    member = await service.members.member_by_invite_code(own_code)
    assert member is not None and member.phone == phone
    assert await page.is_visible("#logout")


async def test_too_many_wrong_codes_kill_the_code_and_say_when_a_new_one_can_come(
    open_tab: OpenTab, clock: Clock
) -> None:
    tab = await open_tab()
    await tab.open()
    page = tab.page
    code = await ask_for_code(tab, new_phone())
    wrong = "0000" if code != "0000" else "1111"
    for left in (4, 3, 2, 1):
        await page.fill("#code", wrong)
        await page.keyboard.press("Enter")
        await wait_until(
            page, f"document.getElementById('code-error').textContent.includes('{left} attempt')"
        )
    assert await tab.text("#code-error") == "Wrong code. 1 attempt left."
    assert await page.is_enabled("#code-form [type=submit]")
    clock.advance(50)  # the server's cooldown of 60 s has 10 s left: the page says so
    await page.fill("#code", wrong)
    await page.keyboard.press("Enter")
    await wait_until(
        page, "document.getElementById('code-error').textContent.startsWith('Too many')"
    )
    await page.wait_for_selector("#code:disabled")  # after the request's busy state
    assert await page.is_disabled("#code-form [type=submit]")
    assert await tab.text("#code-error") == (
        "Too many wrong codes: this code no longer works. Ask for a new one."
    )
    assert await tab.text("#code-valid") == "", "no 'valid for 5 minutes' for a dead code"
    assert await page.is_disabled("#resend")
    assert re.fullmatch(r"Available in 0:(10|0\d)", await tab.text("#resend-wait"))


async def test_a_phone_in_its_cooldown_may_still_enter_the_code_it_got(open_tab: OpenTab) -> None:
    tab = await open_tab()
    await tab.open()
    phone = new_phone()
    code = await ask_for_code(tab, phone)
    await tab.page.click("#change-phone")
    await tab.screen("phone")
    assert await tab.page.input_value("#phone") == phone
    await tab.page.click("#phone-form [type=submit]")
    await tab.page.wait_for_selector("#have-code:not([hidden])")
    assert (await tab.text("#phone-error")).startswith(
        "A new code cannot be sent yet: try again in"
    )
    await tab.page.click("#have-code")
    await tab.screen("code")
    assert await tab.text("#code-where") == f"Enter the code you received for {phone}."
    await tab.page.fill("#code", code)
    await tab.page.keyboard.press("Enter")
    await member_page_loaded(tab)


async def test_a_ref_link_is_carried_through_login_and_applied(
    open_tab: OpenTab, service: ReferralService
) -> None:
    inviter = await join(service)
    tab = await open_tab()
    await tab.open(f"/?ref={inviter.invite_code.lower()}")
    await tab.screen("phone")
    await tab.page.wait_for_selector("#ref-banner:not([hidden])")
    assert await tab.text("#ref-banner") == (
        f"You were invited by {mask_phone(inviter.phone)} with the code {inviter.invite_code}: "
        "it will be applied once you log in."
    )
    assert "ref=" not in tab.page.url, "the code leaves the address, so a reload does not repeat it"
    phone = await log_in(tab)
    await tab.page.wait_for_selector("#joined-with:not([hidden])")
    assert await tab.text("#joined-with") == f"You joined with the code {inviter.invite_code}."
    assert await tab.text("#invite-result") == "", "the outcome is said once"
    assert await tab.page.is_hidden("#invite-form")
    page = await service.invitations.referrals_page(inviter.id)
    assert [referral.phone for referral in page.referrals] == [service.phones.referral(phone)]


async def test_a_ref_link_with_a_code_nobody_has_is_said_at_once_and_dropped(
    open_tab: OpenTab,
) -> None:
    tab = await open_tab()
    await tab.open("/?ref=ZZZZZZ")
    await tab.screen("phone")
    await tab.page.wait_for_selector("#ref-banner:not([hidden])")
    assert await tab.text("#ref-banner") == (
        "Nobody has the code ZZZZZZ from the link you opened, so we start without one."
    )
    await log_in(tab)
    assert await tab.page.is_visible("#invite-form"), "nothing was promised, nothing applied"
    assert await tab.text("#invite-result") == ""


async def test_a_returning_member_hears_of_a_circle_before_being_asked(
    open_tab: OpenTab, service: ReferralService, clock: Clock
) -> None:
    member, below = await join(service), await join(service)
    await service.invitations.activate_invite(below.id, member.invite_code)
    clock.advance(service.members.resend_cooldown)
    tab = await open_tab()
    await tab.open(f"/?ref={below.invite_code}")
    await log_in(tab, member.phone)
    await wait_until(tab.page, "document.getElementById('invite-result').textContent !== ''")
    assert await tab.text("#invite-result") == (
        f"The code {below.invite_code} belongs to someone who joined through you: that would "
        "make a circle."
    )
    assert await tab.page.is_hidden("#join-confirm"), "no Yes for what cannot work"
    assert await tab.page.is_visible("#invite-form")


async def test_a_returning_member_is_asked_before_a_ref_link_is_applied(
    open_tab: OpenTab, service: ReferralService, clock: Clock
) -> None:
    inviter, member = await join(service), await join(service)
    clock.advance(service.members.resend_cooldown)  # their last code was sent when they joined
    tab = await open_tab()
    await tab.open(f"/?ref={inviter.invite_code}")
    await log_in(tab, member.phone)
    await tab.page.wait_for_selector("#join-confirm:not([hidden])")  # after the code's check
    assert await tab.text("#join-confirm-text") == (
        f"Join with the code {inviter.invite_code} from the link you opened?"
    )
    assert await tab.page.is_hidden("#invite-form")
    await tab.page.click("#join-confirm-yes")
    await tab.page.wait_for_selector("#joined-with:not([hidden])")
    profile = await service.members.profile(member.id)
    assert profile is not None and profile.inviter_code == inviter.invite_code


async def test_a_returning_member_may_decline_a_ref_link(
    open_tab: OpenTab, service: ReferralService, clock: Clock
) -> None:
    inviter, member = await join(service), await join(service)
    clock.advance(service.members.resend_cooldown)  # their last code was sent when they joined
    tab = await open_tab()
    await tab.open(f"/?ref={inviter.invite_code}")
    await log_in(tab, member.phone)
    await tab.page.wait_for_selector("#join-confirm:not([hidden])")
    await tab.page.click("#join-confirm-no")
    assert await tab.page.is_visible("#invite-form")
    assert await tab.page.evaluate("document.activeElement.id") == "invite-code"
    await tab.page.reload()
    await member_page_loaded(tab)
    assert await tab.page.is_hidden("#join-confirm"), "declined once, not asked again"
    profile = await service.members.profile(member.id)
    assert profile is not None and profile.inviter_code is None


async def test_a_malformed_ref_link_is_ignored_politely(open_tab: OpenTab) -> None:
    tab = await open_tab()
    await tab.open("/?ref=not-a-code")
    await tab.screen("phone")
    assert await tab.text("#ref-banner") == (
        "The link you opened carries no valid invite code, so we start without one."
    )


async def test_log_out_ends_the_session(open_tab: OpenTab) -> None:
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    await tab.page.click("#logout")
    await tab.screen("phone")
    assert await tab.text("#notice") == "You have logged out."
    assert await tab.page.evaluate("sessionStorage.length") == 0
    await tab.page.reload()
    await tab.screen("phone")


async def test_a_reload_keeps_the_session_of_the_tab(open_tab: OpenTab) -> None:
    tab = await open_tab()
    await tab.open()
    await log_in(tab)
    code = await tab.text("#own-code")
    await tab.page.reload()
    await member_page_loaded(tab)
    assert await tab.text("#own-code") == code
    other = await tab.context.new_page()  # another tab of the same browser: its own session
    await other.goto(tab.app.address())
    await other.wait_for_selector("body[data-screen=phone]")
    await other.close()


async def test_a_server_out_of_reach_is_said_in_plain_words(open_tab: OpenTab) -> None:
    tab = await open_tab()
    tab.expected_console += ["net::ERR_FAILED", "no answer from the server"]
    await tab.page.route("**/api/web-app/", lambda route: route.abort())
    await tab.open()
    await tab.screen("failed")
    assert await tab.text("#failed-title") == "The page could not load"
    assert await tab.text("#failed-text") == (
        "No connection to the server. Check your internet connection and try again."
    )
    await tab.page.unroute("**/api/web-app/")
    await tab.page.click("#failed-retry")
    await tab.screen("phone")
