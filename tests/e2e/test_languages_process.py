"""The real `main.py` speaking Russian and English to people against the Bot API double: the
journey, member commands, `/invite` outcomes, `/language`, `/privacy` and `/delete`."""

import json
import re
from typing import Any

from bot.callbacks import ErasureAnswer, LanguageChoice
from db.phones import mask_phone
from db.service import ReferralService
from playground.bot_api import BotApi
from tests.conftest import en, new_phone
from tests.e2e.test_bot_process import StartBot, has, join, text_of

CODE = re.compile(r"Ваш код: (?:<code>)?(\d{4,8})")
INVITE_CODE = re.compile(r"Ваш код приглашения: (?:<code>)?([A-Z2-9]{6})")


def buttons_of(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [button["text"] for row in markup.get("inline_keyboard", []) for button in row]


async def test_a_russian_member_in_russian_and_an_english_inviter_in_english(
    double: BotApi,
    bot_env: dict[str, str],
    start_bot: StartBot,
    service: ReferralService,
) -> None:
    await start_bot(bot_env)
    inviter = double.new_user("Inviter", language_code="en")
    inviter_code = await join(double, inviter)
    friend = double.new_user("Друг", language_code="ru")

    await double.send_text(friend, f"/start {inviter_code}")
    await double.wait_for_message(friend.id, has("Привет! Это реферальный клуб"))
    keyboard = double.reply_keyboard(friend.id)
    assert keyboard and keyboard["keyboard"][0][0]["text"] == "📱 Поделиться номером телефона"
    await double.send_contact(friend, new_phone())
    sent = await double.wait_for_message(friend.id, has("Мы отправили код из 4 цифр"))
    code = CODE.search(text_of(sent))
    assert code, sent
    await double.send_text(friend, "0000" if code.group(1) != "0000" else "1111")
    await double.wait_for_message(friend.id, has("Неверный код. Осталось 4 попытки."))
    assert double.reply_keyboard(friend.id) is None  # the code step removed the contact button
    owner = await service.members.member_by_invite_code(inviter_code)
    assert owner is not None and owner.phone is not None
    await double.send_text(friend, code.group(1))
    welcome = await double.wait_for_message(friend.id, has("Добро пожаловать"))
    assert text_of(welcome) == (
        "Номер подтверждён. Добро пожаловать, теперь вы участник!\n\n"
        f"Готово! Вы присоединились по коду участника {mask_phone(owner.phone)}.\n\n"
        "Что вы хотите сделать?"
    )
    assert buttons_of(welcome)[:2] == ["Мой код", "Мои приглашённые"]
    await double.wait_for_message(inviter.id, has("joined with your invite code!"))

    await double.send_text(friend, "/code")
    card = await double.wait_for_message(friend.id, has("Ваш код приглашения"))
    friend_code = INVITE_CODE.search(text_of(card))
    assert friend_code, card
    await double.send_text(friend, "/me")
    await double.wait_for_message(friend.id, has(f"Вы пришли по коду: {inviter_code}"))
    await double.send_text(friend, "/refs")
    await double.wait_for_message(friend.id, has("По вашему коду пока никто не пришёл"))
    await double.send_text(friend, f"/invite {friend_code.group(1)}")
    await double.wait_for_message(friend.id, has("Вы уже присоединились по коду"))
    await double.send_text(inviter, "/refs")
    await double.wait_for_message(inviter.id, has("People who joined with your code: 1"))
    await double.send_text(friend, "/privacy")
    await double.wait_for_message(friend.id, has("Ваши данные в этом боте"))
    await double.send_text(friend, "/mydata")
    document = await double.wait_for_message(friend.id, lambda m: "document" in m)
    assert document["caption"] == "Всё, что о вас хранится, в формате JSON."
    name, content = double.uploads(friend.id)[-1]
    mine = json.loads(content)
    assert name == "my-data.json" and mine["telegram_id"] == friend.id
    assert mine["inviter_code"] == inviter_code and mine["language"] == "ru"

    await double.send_text(friend, "/language")
    choice = await double.wait_for_message(friend.id, has("Выберите язык"))
    assert buttons_of(choice) == ["English", "Русский"]
    await double.press_button(friend, choice["message_id"], LanguageChoice(language="en").pack())
    await double.wait_for_message(friend.id, has("Done: I will speak English."))
    await double.send_text(friend, "/help")
    await double.wait_for_message(friend.id, has(en("help")[:40]))

    await double.send_text(friend, "/delete")
    question = await double.wait_for_message(friend.id, has(en("delete-confirm")[:30]))
    erase = ErasureAnswer(confirm=True).pack()
    await double.press_button(friend, question["message_id"], erase)
    await double.wait_for_message(friend.id, has(en("delete-done")[:30]))
    assert await service.members.member_by_telegram(friend.id) is None
    await double.send_text(inviter, "/refs")
    await double.wait_for_message(inviter.id, has("1. deleted member,"))
