"""Sharing and growth through the bot: `/qr` and its button, inline mode, `/top`, milestones."""

from aiogram.methods import AnswerInlineQuery, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, InlineQueryResultArticle

from db.phones import mask_phone
from db.results import Member
from db.service import ReferralService
from sharing.qr import qr_png
from tests.bot.conftest import BOT_USERNAME, People, inline_buttons, texts_of
from tests.conftest import Clock, join


async def referrals_of(service: ReferralService, inviter: Member, how_many: int) -> None:
    for _ in range(how_many):
        referral = await join(service)
        await service.invitations.activate_invite(referral.id, inviter.invite_code)


async def test_qr_is_uploaded_once_then_sent_by_its_file_id(
    people: People, service: ReferralService
) -> None:
    owner = people()
    member = await join(service, owner.phone, telegram_id=owner.id)
    link = f"https://t.me/{BOT_USERNAME}?start={member.invite_code}"

    [first] = [m for m in await owner.send("/qr") if isinstance(m, SendPhoto)]
    assert isinstance(first.photo, BufferedInputFile)
    assert first.photo.data == qr_png(link)
    assert first.caption is not None and link in first.caption
    uploaded = owner.session.calls[-1].result.photo[-1].file_id

    await owner.send("/code")
    [again] = [m for m in await owner.press("🔳 QR code") if isinstance(m, SendPhoto)]
    assert again.photo == uploaded  # nothing uploaded the second time
    [third] = [m for m in await owner.send("/qr") if isinstance(m, SendPhoto)]
    assert third.photo == uploaded


async def test_inline_query_of_a_member_offers_their_invite_card(
    people: People, service: ReferralService
) -> None:
    owner = people("en")
    member = await join(service, owner.phone, telegram_id=owner.id)
    await service.members.set_language(member.id, "ru")
    link = f"https://t.me/{BOT_USERNAME}?start={member.invite_code}"

    [answer] = [m for m in await owner.inline_query() if isinstance(m, AnswerInlineQuery)]
    assert answer.is_personal is True and answer.cache_time == 60
    [card] = answer.results
    assert isinstance(card, InlineQueryResultArticle)
    assert card.title == f"Пригласить по моему коду {member.invite_code}"  # the member's choice
    content = card.input_message_content
    assert member.invite_code in content.message_text and link in content.message_text  # type: ignore[union-attr]
    assert card.reply_markup is not None
    [join_button] = card.reply_markup.inline_keyboard[0]
    assert join_button.text == "Присоединиться" and join_button.url == link


async def test_inline_query_of_a_stranger_offers_to_open_the_bot(people: People) -> None:
    stranger = people()
    [answer] = [m for m in await stranger.inline_query("hello") if isinstance(m, AnswerInlineQuery)]
    assert answer.results == [] and answer.is_personal is True
    assert answer.button is not None
    assert answer.button.text == "Open the bot to get your invite link"
    assert answer.button.start_parameter == "inline"
    [greeting] = texts_of(await stranger.send("/start inline"))
    assert greeting.startswith("Hi! This is a referral club")
    assert "no valid invite code" not in greeting


async def test_top_lists_leaders_in_order_masked_and_the_askers_place(
    people: People, service: ReferralService, clock: Clock
) -> None:
    asker = people()
    me = await join(service, asker.phone, telegram_id=asker.id)
    leader, runner_up = await join(service), await join(service)
    await referrals_of(service, runner_up, 2)
    clock.advance(1)
    await referrals_of(service, leader, 3)
    clock.advance(1)
    await referrals_of(service, me, 2)  # as many as the runner-up, reached later

    [text] = texts_of(await asker.send("/top"))
    month, all_time = text.split("\n\n")
    for board in (month, all_time):
        lines = board.split("\n")
        assert lines[1:4] == [
            f"1. {mask_phone(leader.phone)}: 3 friends",
            f"2. {mask_phone(runner_up.phone)}: 2 friends",
            f"3. {mask_phone(me.phone)}: 2 friends",
        ]
        assert lines[-1] == "You: 3rd, with 2 friends."
    assert month.startswith("<b>Top inviters of ") and all_time.startswith("<b>Top inviters of all")


async def test_top_in_russian_with_no_referrals_yet(
    people: People, service: ReferralService
) -> None:
    asker = people("ru")
    await join(service, asker.phone, telegram_id=asker.id)
    [text] = texts_of(await asker.send("/top"))
    assert "Пока никого: станьте первым!" in text
    assert text.endswith("Вы: по вашему коду пока никто не пришёл. Поделитесь ссылкой: /code")


async def test_the_inviter_is_congratulated_once_on_a_milestone_with_the_next(
    people: People, service: ReferralService
) -> None:
    owner = people()
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    await referrals_of(service, inviter, 4)
    fifth, sixth = people(), people()
    await join(service, fifth.phone, telegram_id=fifth.id)
    await join(service, sixth.phone, telegram_id=sixth.id)

    calls = await fifth.send(f"/invite {inviter.invite_code}")
    [notice] = [m.text for m in calls if isinstance(m, SendMessage) and m.chat_id == owner.id]
    assert notice.endswith("🏆 A milestone: 5 friends joined with your code! The next one: 10.")
    calls = await sixth.send(f"/invite {inviter.invite_code}")
    [notice] = [m.text for m in calls if isinstance(m, SendMessage) and m.chat_id == owner.id]
    assert "🏆" not in notice


async def test_me_shows_progress_to_the_next_milestone(
    people: People, service: ReferralService
) -> None:
    owner = people("ru")
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    await referrals_of(service, inviter, 7)
    [text] = texts_of(await owner.send("/me"))
    assert text.endswith("Следующая цель: 10 (осталось 3).")


async def test_code_keyboard_reaches_every_way_of_sharing_in_one_tap(
    people: People, service: ReferralService
) -> None:
    owner = people()
    await join(service, owner.phone, telegram_id=owner.id)
    [card] = [m for m in await owner.send("/code") if isinstance(m, SendMessage)]
    buttons = inline_buttons(card)
    assert [b.text for b in buttons] == [
        "📋 Copy code",
        "Share",
        "💬 Invite in a chat",
        "🔳 QR code",
    ]
