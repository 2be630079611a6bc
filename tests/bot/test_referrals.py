"""A member's own data through the bot: `/code`, `/refs` and its pages, `/me`."""

from urllib.parse import parse_qs, urlparse

from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from db.phones import mask_phone
from db.results import Member
from db.service import ReferralService
from tests.bot.conftest import People, callback_update, inline_buttons, texts_of
from tests.conftest import en, join


async def referrals_of(service: ReferralService, inviter: Member, how_many: int) -> None:
    for _ in range(how_many):
        referral = await join(service)
        await service.invitations.activate_invite(referral.id, inviter.invite_code)


async def test_code_shows_the_deep_link_with_copy_share_invite_in_a_chat_and_qr(
    people: People, service: ReferralService
) -> None:
    owner = people()
    member = await join(service, owner.phone, telegram_id=owner.id)

    card = await owner.send("/code")
    link = f"https://t.me/test_referral_bot?start={member.invite_code}"
    assert isinstance(card[-1], SendMessage)
    assert f"<code>{member.invite_code}</code>" in card[-1].text and link in card[-1].text
    copy, share, in_chat, qr = inline_buttons(card[-1])
    assert copy.text == "📋 Copy code" and copy.copy_text is not None
    assert copy.copy_text.text == member.invite_code
    assert in_chat.text == "💬 Invite in a chat"
    chosen = in_chat.switch_inline_query_chosen_chat
    assert chosen is not None and chosen.query == ""
    assert (chosen.allow_user_chats, chosen.allow_group_chats, chosen.allow_channel_chats) == (
        True,
        True,
        True,
    )
    assert qr.text == "🔳 QR code" and qr.callback_data == "qr"
    assert share.text == "Share" and share.url is not None
    assert share.url.startswith("https://t.me/share/url?url=https%3A%2F%2Ft.me%2Ftest_referral_bot")
    query = parse_qs(urlparse(share.url).query)
    assert query == {"url": [link], "text": [en("share-text", code=member.invite_code)]}


async def test_refs_pages_forward_and_back(people: People, service: ReferralService) -> None:
    owner = people()
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    await referrals_of(service, inviter, 25)

    first = await owner.send("/refs")
    assert texts_of(first)[-1].startswith("People who joined with your code: 25 (page 1 of 3)")
    assert [button.text for button in inline_buttons(first[-1])] == ["Next »"]

    second = await owner.press("Next »")
    assert isinstance(second[0], AnswerCallbackQuery)
    page = second[-1]
    assert isinstance(page, EditMessageText)
    [page_two] = texts_of([page])
    assert page_two.startswith("People who joined with your code: 25 (page 2 of 3)")
    assert "\n11. +7 999 ***-**-" in page_two and "\n20. " in page_two
    assert [button.text for button in inline_buttons(page)] == ["« Previous", "Next »"]

    third = (await owner.press("Next »"))[-1]
    [page_three] = texts_of([third])
    assert isinstance(third, EditMessageText) and "(page 3 of 3)" in page_three
    assert "\n25. " in page_three and "\n26. " not in page_three
    assert [button.text for button in inline_buttons(third)] == ["« Previous"]

    back = (await owner.press("« Previous"))[-1]
    assert isinstance(back, EditMessageText) and texts_of([back]) == [page_two]
    for button in inline_buttons(back):
        assert button.callback_data is not None and len(button.callback_data.encode()) <= 64


async def test_an_old_page_button_shows_the_first_page(
    people: People, service: ReferralService
) -> None:
    owner = people()
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    await referrals_of(service, inviter, 3)

    calls = await owner.feed(callback_update(owner.id, "refs:4:not-a-cursor:", 1))
    assert isinstance(calls[0], AnswerCallbackQuery)
    assert texts_of(calls)[-1].startswith("People who joined with your code: 3 (page 1 of 1)")


async def test_refs_without_referrals(people: People, service: ReferralService) -> None:
    owner = people()
    await join(service, owner.phone, telegram_id=owner.id)
    assert texts_of(await owner.send("/refs")) == [en("no-referrals")]


async def test_me_shows_the_masked_phone_the_codes_and_the_count(
    people: People, service: ReferralService
) -> None:
    owner, member = people(), people()
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    joined = await join(service, member.phone, telegram_id=member.id)
    await service.invitations.activate_invite(joined.id, inviter.invite_code)
    await referrals_of(service, joined, 2)

    assert texts_of(await member.send("/me")) == [
        f"Phone: {mask_phone(member.phone)}\n"
        f"Your invite code: <code>{joined.invite_code}</code>\n"
        f"Joined with the code: <code>{inviter.invite_code}</code>\n"
        "People who joined with your code: 2\n"
        "Next milestone: 5 (3 to go)."
    ]
    assert "none yet" in texts_of(await owner.send("/me"))[0]


async def test_the_menu_buttons_show_the_code_and_the_referrals(people: People) -> None:
    member = people()
    await member.verify()
    code = await member.press("My code")
    assert isinstance(code[0], AnswerCallbackQuery)
    assert "https://t.me/test_referral_bot?start=" in texts_of(code)[-1]
    assert texts_of(await member.press("My referrals"))[-1] == en("no-referrals")
