"""Operators end to end: the real `main.py` against the Bot API double, /stats with its chart
photo, /find and blocking, /export as a document, the admin API, and nothing of it for others."""

import csv
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.texts import COMMANDS, OPERATOR_COMMANDS
from db.operators import EXPORT_COLUMNS
from playground.bot_api import BotApi, User
from tests.conftest import en, new_phone
from tests.e2e.conftest import BotProcess

StartBot = Callable[..., Awaitable[BotProcess]]
CODE = re.compile(r"Your code: (?:<code>)?(\d{4,8})")
INVITE_CODE = re.compile(r"Your invite code: (?:<code>)?([A-Z2-9]{6})")


def text_of(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


def has(fragment: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: fragment in text_of(message)


async def become_member(double: BotApi, user: User, phone: str) -> str:
    """/start, the contact, the code: a member; returns their invite code."""
    await double.send_text(user, "/start")
    await double.wait_for_message(user.id, has(en("greeting")[:20]))
    await double.send_contact(user, phone)
    sent = await double.wait_for_message(user.id, has("Your code"))
    code = CODE.search(text_of(sent))
    assert code, sent
    await double.send_text(user, code.group(1))
    await double.wait_for_message(user.id, has(en("welcome-new")))
    await double.send_text(user, "/code")
    card = await double.wait_for_message(user.id, has("Your invite code"))
    invite = INVITE_CODE.search(text_of(card))
    assert invite, card
    return invite.group(1)


async def test_operators_in_the_bot_and_the_api(
    double: BotApi, bot_env: dict[str, str], start_bot: StartBot
) -> None:
    operator, member, other = (double.new_user(name) for name in ("Operator", "Member", "Other"))
    operator_phone, member_phone = new_phone(), new_phone()
    settings = {"ADMIN_IDS": str(operator.id), "CODE_RESEND_COOLDOWN": "0"}
    bot = await start_bot({**bot_env, **settings})

    # Menus: the operator's own chat has the operators' commands, nobody else's does.
    chat_menu = double.my_commands({"type": "chat", "chat_id": operator.id})
    assert [c["command"] for c in chat_menu] == [*COMMANDS, *OPERATOR_COMMANDS]
    assert [c["command"] for c in double.my_commands("all_private_chats")] == list(COMMANDS)

    member_code = await become_member(double, member, member_phone)
    await become_member(double, operator, operator_phone)
    await become_member(double, other, new_phone())
    await double.send_text(other, f"/invite {member_code}")
    await double.wait_for_message(other.id, has("Done!"))

    await double.wait_for_message(member.id, has("joined with your invite code"))

    # Somebody else: the commands do not exist.
    for command in ("/stats", f"/find {member_code}", "/export"):
        await double.send_text(member, command)
        answer = await double.wait_for_message(member.id)
        assert text_of(answer) == en("not-understood")

    # /stats: the figures, then the chart as a photo.
    await double.send_text(operator, "/stats")
    figures = await double.wait_for_message(operator.id, has("Program figures"))
    assert "Members: 3" in text_of(figures) and "Joined with a code: 1 (33.3%)" in text_of(figures)
    photo = await double.wait_for_message(operator.id, lambda m: "photo" in m, timeout=30)
    assert photo["photo"][-1]["width"] == 1200 and photo["photo"][-1]["height"] == 675
    assert photo["caption"] == en("stats-chart-caption")
    name, image = double.uploads(operator.id)[-1]
    assert name == "stats.png" and image.startswith(b"\x89PNG")

    # /find, Block with a reason, and the blocked member's code refuses.
    await double.send_text(operator, f"/find {member_phone}")
    card = await double.wait_for_message(operator.id, has(f"Phone: {member_phone}"))
    [block] = [b for b in card["reply_markup"]["inline_keyboard"][0]]
    await double.press_button(operator, card["message_id"], block["callback_data"])
    await double.wait_for_message(operator.id, has("Send the reason"))
    await double.send_text(operator, "resells codes")
    await double.wait_for_message(operator.id, has(en("block-done", phone=member_phone)))
    latecomer = double.new_user("Latecomer")
    await become_member(double, latecomer, new_phone())
    await double.send_text(latecomer, f"/invite {member_code}")
    refused = await double.wait_for_message(latecomer.id)
    suspended = en("activation-code-suspended", code=member_code)
    assert text_of(refused) == re.sub("<[^>]+>", "", suspended)

    # /export: a CSV document of every member.
    await double.send_text(operator, "/export")
    await double.wait_for_message(operator.id, has(en("export-started")))
    document = await double.wait_for_message(operator.id, lambda m: "document" in m, timeout=30)
    assert document["caption"].startswith("4 members, as of ")
    name, content = double.uploads(operator.id)[-1]
    assert name.startswith("members-") and name.endswith(".csv")
    header, *rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
    assert header == list(EXPORT_COLUMNS) and len(rows) == 4
    statuses = {row[1]: row[9] for row in rows}
    assert statuses[member_phone] == "blocked" and statuses[operator_phone] == "active"

    # The API: the operator (a member whose Telegram account is in ADMIN_IDS) and somebody else.
    async with aiohttp.ClientSession(base_url=bot.url) as http:
        tokens = {}
        for phone in (operator_phone, member_phone):
            async with http.post("/api/login/", json={"phone": phone}) as login:
                code = (await login.json())["code"]
            async with http.post("/api/verify/", json={"phone": phone, "code": code}) as verify:
                tokens[phone] = (await verify.json())["token"]
        as_operator = {"Authorization": f"Bearer {tokens[operator_phone]}"}
        async with http.get("/api/admin/stats/", headers=as_operator) as stats:
            assert stats.status == 200 and (await stats.json())["blocked"] == 1
        async with http.get("/api/admin/export.csv", headers=as_operator) as export:
            assert export.status == 200
            exported = (await export.read()).decode()
        assert exported.count("\n") == 5
        async with http.get(
            "/api/admin/stats/", headers={"Authorization": f"Bearer {tokens[member_phone]}"}
        ) as hidden:
            assert hidden.status == 404

    log = bot.log()
    for action in ("read the figures", "searched members by phone", "blocked member", "exported"):
        assert f"operator {operator.id} {action}" in log
    for phone in (member_phone, operator_phone):
        assert phone[1:] not in log
