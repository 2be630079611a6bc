"""The real `main.py` against the Bot API double: `/code`'s ways of sharing, `/qr` uploaded once,
inline mode for a member and a stranger, `/top`, and a milestone's congratulation."""

from typing import Any

from db.service import ReferralService
from playground.bot_api import BotApi
from sharing.qr import qr_png
from tests.e2e.test_bot_process import StartBot, has, join


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


async def test_sharing_in_four_ways_and_the_leaderboard(
    double: BotApi,
    bot_env: dict[str, str],
    start_bot: StartBot,
    service: ReferralService,
) -> None:
    await start_bot(bot_env)
    member = double.new_user("Member", language_code="en")
    code = await join(double, member)
    link = f"https://t.me/{double.username}?start={code}"

    card = double.messages(member.id)[-1]
    copy, share, in_chat, qr = buttons_of(card)
    assert copy["copy_text"] == {"text": code}
    assert share["url"].startswith("https://t.me/share/url?")
    assert in_chat["switch_inline_query_chosen_chat"] == {
        "query": "",
        "allow_user_chats": True,
        "allow_group_chats": True,
        "allow_channel_chats": True,
    }
    await double.press_button(member, card["message_id"], qr["callback_data"])
    first = await double.wait_for_message(member.id, lambda m: "photo" in m)
    assert link in first["caption"]
    await double.send_text(member, "/qr")
    second = await double.wait_for_message(
        member.id, lambda m: "photo" in m and m["message_id"] != first["message_id"]
    )
    assert second["photo"][-1]["file_id"] == first["photo"][-1]["file_id"]
    uploads = [call for call in double.bot_calls("sendPhoto") if call.params.get("photo")]
    uploaded = [call.params["photo"].startswith("attach://") for call in uploads]
    assert uploaded == [True, False]  # the second one is the file_id of the first
    assert double.uploads(member.id)[-1][1] == qr_png(link)

    answer = await double.wait_for_answer(double.inline_query(member))
    assert answer["is_personal"] is True and answer["cache_time"] == 60
    [result] = answer["results"]
    assert code in result["input_message_content"]["message_text"]
    assert result["reply_markup"]["inline_keyboard"][0][0]["url"] == link
    stranger = double.new_user("Stranger", language_code="ru")
    answer = await double.wait_for_answer(double.inline_query(stranger, "hi"))
    assert answer["results"] == []
    assert answer["button"] == {
        "text": "Откройте бота, чтобы получить свою ссылку",
        "start_parameter": "inline",
    }

    await double.send_text(member, "/top")
    await double.wait_for_message(member.id, has("You: no friends joined yet."))
