"""Joining through the bot: `/start`, the contact, the code, the welcome."""

from urllib.parse import parse_qs, urlsplit

from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import ReplyKeyboardMarkup, ReplyKeyboardRemove

from db.phones import mask_phone
from db.service import ReferralService
from tests.bot.conftest import BOT_USERNAME, People, inline_buttons, shown_code, texts_of
from tests.conftest import Clock, en, join

WELCOME_NEW = en("welcome-new") + "\n\n" + en("menu")


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


async def test_newcomer_through_a_deep_link_becomes_the_link_owners_referral(
    people: People, service: ReferralService
) -> None:
    owner, newcomer = people(), people()
    inviter = await join(service, owner.phone, telegram_id=owner.id)

    greeting = await newcomer.send(f"/start {inviter.invite_code}")
    assert isinstance(greeting[-1], SendMessage)
    keyboard = greeting[-1].reply_markup
    assert isinstance(keyboard, ReplyKeyboardMarkup)
    assert keyboard.keyboard[0][0].request_contact is True
    assert inviter.invite_code in greeting[-1].text

    code_step = await newcomer.share_contact()
    assert isinstance(code_step[0], SendMessage)
    assert isinstance(code_step[0].reply_markup, ReplyKeyboardRemove)  # the contact button goes
    code = shown_code(code_step)
    assert texts_of(await newcomer.send(wrong(code))) == ["Wrong code. Attempts left: 4."]
    welcome = await newcomer.send(code)

    sent = [method for method in welcome if isinstance(method, SendMessage)]
    notice = [method for method in sent if method.chat_id == owner.id]
    [sent] = [method for method in sent if method.chat_id == newcomer.id]  # one message
    assert sent.text == "\n\n".join(
        [
            en("welcome-new"),
            f"Done! You joined with the code of {mask_phone(owner.phone)}.",
            en("menu"),
        ]
    )
    assert [b.text for b in inline_buttons(sent)] == [
        "My code",
        "My referrals",
        "Enter an invite code",
        "Share",
    ]
    assert len(notice) == 1 and newcomer.phone[-2:] in notice[0].text
    member = await service.members.member_by_telegram(newcomer.id)
    assert member is not None and member.inviter_id == inviter.id


async def test_the_menu_share_button_and_the_code_step_keyboard(
    people: People, service: ReferralService
) -> None:
    newcomer = people()
    await newcomer.send("/start")
    [code_step] = await newcomer.share_contact()
    assert isinstance(code_step, SendMessage) and code_step.text.startswith("We sent a 4-digit")
    # Typing the code: no buttons in the way, the contact button removed.
    assert isinstance(code_step.reply_markup, ReplyKeyboardRemove)

    welcome = await newcomer.send(shown_code([code_step]))
    member = await service.members.member_by_telegram(newcomer.id)
    assert member is not None
    share = inline_buttons(welcome[-1])[-1]
    assert share.text == "Share" and share.url is not None
    link = f"https://t.me/{BOT_USERNAME}?start={member.invite_code}"
    query = parse_qs(urlsplit(share.url).query)
    assert share.url.startswith("https://t.me/share/url?") and query["url"] == [link]
    assert member.invite_code in query["text"][0]


async def test_a_code_step_without_a_new_code_keeps_the_contact_button_until_the_welcome(
    people: People,
) -> None:
    newcomer = people()
    await newcomer.send("/start")
    code = shown_code(await newcomer.share_contact())
    await newcomer.send("/start")  # the contact step again, its button shown again
    again = await newcomer.share_contact()  # within the resend cooldown: no code sent
    assert texts_of(again)[0].startswith(en("code-recently-sent"))
    assert [button.text for button in inline_buttons(again[0])] == ["Send a new code"]

    welcome = await newcomer.send(code)  # the code of the first message still works
    greeting, menu = [method for method in welcome if isinstance(method, SendMessage)]
    assert (greeting.text, menu.text) == (en("welcome-new"), en("menu"))
    assert isinstance(greeting.reply_markup, ReplyKeyboardRemove)
    assert [b.text for b in inline_buttons(menu)][:2] == ["My code", "My referrals"]


async def test_a_contact_that_is_not_the_senders_own_is_refused(
    people: People, service: ReferralService
) -> None:
    newcomer, stranger = people(), people()
    await newcomer.send("/start")

    for owner in (stranger.id, None):
        refusal = await newcomer.share_contact_of(stranger.phone, owner)
        assert texts_of(refusal) == [en("foreign-contact")]
        assert isinstance(refusal[0], SendMessage)
        assert isinstance(refusal[0].reply_markup, ReplyKeyboardMarkup)
    request = await service.members.request_code(stranger.phone)
    assert request.code is not None  # no code was sent to the stranger's phone: no cooldown


async def test_a_typed_phone_number_gets_a_reminder_to_use_the_button(people: People) -> None:
    newcomer = people()
    await newcomer.send("/start")
    reminder = await newcomer.send(newcomer.phone)
    assert texts_of(reminder) == [en("use-the-button")]
    assert isinstance(reminder[0], SendMessage)
    assert isinstance(reminder[0].reply_markup, ReplyKeyboardMarkup)


async def test_an_expired_code_offers_a_new_one(people: People, clock: Clock) -> None:
    newcomer = people()
    await newcomer.send("/start")
    old_code = shown_code(await newcomer.share_contact())
    clock.advance(301)

    expired = await newcomer.send(old_code)
    assert texts_of(expired) == ["This code has expired. Ask for a new one:"]
    assert [button.text for button in inline_buttons(expired[0])] == ["Send a new code"]

    new_code = shown_code(await newcomer.press("Send a new code"))
    assert texts_of(await newcomer.send(new_code)) == [WELCOME_NEW]


async def test_five_wrong_attempts_kill_the_code(people: People) -> None:
    newcomer = people()
    await newcomer.send("/start")
    code = shown_code(await newcomer.share_contact())
    answers = [texts_of(await newcomer.send(wrong(code)))[0] for _ in range(5)]

    assert answers[:4] == [f"Wrong code. Attempts left: {left}." for left in (4, 3, 2, 1)]
    assert answers[4].startswith("Too many wrong attempts")
    dead = await newcomer.send(code)
    assert texts_of(dead)[0].startswith("Too many wrong attempts")
    assert [button.text for button in inline_buttons(dead[0])] == ["Send a new code"]


async def test_send_a_new_code_honours_the_cooldown(people: People, clock: Clock) -> None:
    newcomer = people()
    await newcomer.send("/start")
    code = shown_code(await newcomer.share_contact())
    await newcomer.send(wrong(code))
    clock.advance(18)
    for _ in range(4):
        await newcomer.send(wrong(code))  # the fifth kills the code and offers a new one

    during = await newcomer.press("Send a new code")
    assert len(during) == 1 and isinstance(during[0], AnswerCallbackQuery)
    assert during[0].text == "A new code is available in 42 s."

    clock.advance(42)
    after = await newcomer.press("Send a new code")
    assert isinstance(after[0], AnswerCallbackQuery) and after[0].text is None
    new_code = shown_code(after)
    assert texts_of(await newcomer.send(new_code)) == [WELCOME_NEW]


async def test_send_a_new_code_after_verification_is_harmless(people: People, clock: Clock) -> None:
    newcomer = people()
    await newcomer.send("/start")
    old_code = shown_code(await newcomer.share_contact())
    clock.advance(301)
    await newcomer.send(old_code)  # expired: the answer carries "Send a new code"
    await newcomer.send(shown_code(await newcomer.share_contact()))

    stale = await newcomer.press("Send a new code")
    assert len(stale) == 1 and isinstance(stale[0], AnswerCallbackQuery)
    assert stale[0].text == en("button-expired")


async def test_a_member_logging_in_again_is_welcomed_back(
    people: People, service: ReferralService, clock: Clock
) -> None:
    returning = people()
    await join(service, returning.phone)
    clock.advance(60)  # the resend cooldown of that first code
    welcome = await returning.verify()
    assert texts_of(welcome) == [en("welcome-back") + "\n\n" + en("menu")]
    assert inline_buttons(welcome[-1])[0].text == "My code"


async def test_telegram_affiliate_and_malformed_payloads_are_ignored_politely(
    people: People, service: ReferralService
) -> None:
    affiliate, malformed = people(), people()
    greeting = texts_of(await affiliate.send("/start _tgr_AbCdEf123"))
    assert greeting == [en("greeting")]
    greeting = texts_of(await malformed.send("/start not-a-code!"))
    assert greeting == [en("greeting") + "\n\n" + en("malformed-link")]

    welcome = await malformed.send(shown_code(await malformed.share_contact()))
    assert texts_of(welcome) == [WELCOME_NEW]
    member = await service.members.member_by_telegram(malformed.id)
    assert member is not None and member.inviter_id is None


async def test_cancel_leaves_the_verification_step(people: People) -> None:
    newcomer = people()
    await newcomer.send("/start")
    cancelled = await newcomer.send("/cancel")
    assert texts_of(cancelled) == [en("cancelled")]
    assert isinstance(cancelled[0], SendMessage)
    assert isinstance(cancelled[0].reply_markup, ReplyKeyboardRemove)
    assert texts_of(await newcomer.send(newcomer.phone)) == [en("not-understood")]
