"""The bot in the person's language: Telegram's `language_code`, a choice with `/language`, the
default; the inviter's notice in the inviter's language."""

import pytest
from aiogram.methods import SendMessage
from aiogram.types import ReplyKeyboardMarkup

from db.phones import mask_phone
from db.service import ReferralService
from tests.bot.conftest import People, inline_buttons, shown_code, texts_of
from tests.conftest import en, join


async def test_a_russian_newcomer_walks_the_whole_journey_in_russian(
    people: People, service: ReferralService
) -> None:
    owner = people("en")
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    newcomer = people("ru-RU")

    greeting = await newcomer.send(f"/start {inviter.invite_code}")
    assert texts_of(greeting)[0].startswith("Привет! Это реферальный клуб")
    assert isinstance(greeting[0], SendMessage)
    keyboard = greeting[0].reply_markup
    assert isinstance(keyboard, ReplyKeyboardMarkup)
    assert keyboard.keyboard[0][0].text == "📱 Поделиться номером телефона"

    code_step = await newcomer.share_contact()
    assert texts_of(code_step)[0].startswith("Мы отправили код из 4 цифр")
    code = shown_code(code_step)
    wrong = f"{(int(code) + 1) % 10000:04d}"
    assert texts_of(await newcomer.send(wrong)) == ["Неверный код. Осталось 4 попытки."]
    welcome = await newcomer.send(code)
    to_newcomer = [m for m in welcome if isinstance(m, SendMessage) and m.chat_id == newcomer.id]
    to_owner = [m for m in welcome if isinstance(m, SendMessage) and m.chat_id == owner.id]
    assert [m.text for m in to_newcomer] == [
        "Номер подтверждён. Добро пожаловать, теперь вы участник!\n\n"
        f"Готово! Вы присоединились по коду участника {mask_phone(owner.phone)}.\n\n"
        "Что вы хотите сделать?"
    ]
    assert [b.text for b in inline_buttons(to_newcomer[0])] == [
        "Мой код",
        "Мои приглашённые",
        "Ввести код приглашения",
        "Поделиться",
    ]
    # The inviter's notice is in the inviter's language, not the newcomer's.
    assert [m.text for m in to_owner] == [en("new-referral", phone=mask_phone(newcomer.phone))]

    assert texts_of(await newcomer.send("/code"))[0].startswith("Ваш код приглашения")
    me = texts_of(await newcomer.send("/me"))[0]
    assert "Вы пришли по коду: <code>" in me and "пришли 0 друзей" in me
    refs = texts_of(await owner.send("/refs"))[0]
    assert refs.startswith("People who joined with your code: 1 (page 1 of 1)")
    assert texts_of(await newcomer.send("/help"))[0].startswith("Этот бот ведёт реферальный клуб")
    unknown = texts_of(await newcomer.send("/invite ZZZZZZ"))[0]
    assert unknown.startswith("Вы уже присоединились по коду")


async def test_the_referral_count_uses_russian_plurals(
    people: People, service: ReferralService
) -> None:
    owner = people("ru")
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    for _ in range(21):
        member = await join(service)
        await service.invitations.activate_invite(member.id, inviter.invite_code)
    refs = texts_of(await owner.send("/refs"))[0]
    assert refs.startswith("По вашему коду пришёл 21 друг (страница 1 из 3)")


async def test_a_choice_made_before_verification_is_kept_on_the_member(
    people: People, service: ReferralService
) -> None:
    newcomer = people("en")
    choice = await newcomer.send("/language")
    assert [b.text for b in inline_buttons(choice[0])] == ["English", "Русский"]
    assert texts_of(await newcomer.press("Русский")) == ["Готово: буду говорить по-русски."]
    greeting = texts_of(await newcomer.send("/start"))[0]
    assert greeting.startswith("Привет!")
    welcome = await newcomer.send(shown_code(await newcomer.share_contact()))
    assert texts_of(welcome) == [
        "Номер подтверждён. Добро пожаловать, теперь вы участник!\n\nЧто вы хотите сделать?"
    ]
    member = await service.members.member_by_telegram(newcomer.id)
    assert member is not None and member.language == "ru"

    await newcomer.send("/language")
    assert texts_of(await newcomer.press("English")) == ["Done: I will speak English."]
    assert texts_of(await newcomer.send("/help"))[0] == en("help")
    member = await service.members.member_by_telegram(newcomer.id)
    assert member is not None and member.language == "en"


@pytest.mark.parametrize(("code", "first"), [(None, "Hi!"), ("de", "Hi!"), ("ru", "Привет!")])
async def test_telegram_language_then_the_default(
    people: People, code: str | None, first: str
) -> None:
    assert texts_of(await people(code).send("/start"))[0].startswith(first)
