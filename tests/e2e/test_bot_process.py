"""The real `main.py` process against the Bot API double: polling, webhook, several instances,
Telegram's errors, a database outage and shutdown in the middle of a burst."""

import asyncio
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from redis.asyncio import Redis

from bot.state_storage import CLAIM_TTL
from bot.texts import COMMANDS
from db.service import ReferralService
from playground.bot_api import BotApi, User
from playground.webhook import WebhookDelivery
from tests.conftest import en, new_phone
from tests.conftest import join as verified_member
from tests.e2e.conftest import ROOT, WEBHOOK_SECRET, BotProcess, DatabaseProxy

StartBot = Callable[..., Awaitable[BotProcess]]
CODE = re.compile(r"Your code: (?:<code>)?(\d{4,8})")
INVITE_CODE = re.compile(r"Your invite code: (?:<code>)?([A-Z2-9]{6})")


def text_of(message: dict[str, Any]) -> str:
    return str(message.get("text", ""))


def has(fragment: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: fragment in text_of(message)


async def join(double: BotApi, user: User, payload: str = "") -> str:
    """The whole journey of a newcomer in the chat; returns their invite code."""
    await double.send_text(user, f"/start {payload}".strip())
    await double.wait_for_message(user.id, has(en("greeting")[:20]))
    keyboard = double.reply_keyboard(user.id)
    assert keyboard and keyboard["keyboard"][0][0]["request_contact"] is True
    await double.send_contact(user, new_phone())
    sent = await double.wait_for_message(user.id, has("Your code"))
    code = CODE.search(text_of(sent))
    assert code, sent
    await double.send_text(user, "0000" if code.group(1) != "0000" else "1111")
    await double.wait_for_message(user.id, has("Wrong code. Attempts left: 4"))
    assert double.reply_keyboard(user.id) is None  # the code step removed the contact button
    await double.send_text(user, code.group(1))
    welcome = await double.wait_for_message(user.id, has(en("welcome-new")))
    assert text_of(welcome).endswith(en("menu"))  # one message: greeting, outcome, menu
    await double.send_text(user, "/code")
    card = await double.wait_for_message(user.id, has("Your invite code"))
    invite = INVITE_CODE.search(text_of(card))
    assert invite, card
    assert f"https://t.me/{double.username}?start={invite.group(1)}" in text_of(card)
    return invite.group(1)


async def invite_journey(double: BotApi) -> None:
    """An inviter joins; a friend opens their link, joins and lands in the menu; both see it."""
    inviter, friend = double.new_user("Inviter"), double.new_user("Friend")
    inviter_code = await join(double, inviter)
    await join(double, friend, payload=inviter_code)
    await double.wait_for_message(inviter.id, has("joined with your invite code"))
    await double.send_text(friend, "/me")
    await double.wait_for_message(friend.id, has(f"Joined with the code: {inviter_code}"))
    await double.send_text(inviter, "/refs")
    await double.wait_for_message(inviter.id, has("People who joined with your code: 1"))
    await double.send_text(friend, f"/invite {inviter_code}")
    await double.wait_for_message(friend.id, has("You already joined with the code"))


async def test_polling_journey(
    double: BotApi, bot_env: dict[str, str], start_bot: StartBot
) -> None:
    bot = await start_bot(bot_env)
    await invite_journey(double)
    log = bot.log()
    assert "CODE_DELIVERY=chat shows codes to whoever asks: not for production" in log
    assert "Update id=" not in log, "no line per routine update at INFO"
    default, russian = double.bot_calls("setMyCommands")
    for menu in (default, russian):
        assert [command["command"] for command in menu.params["commands"]] == list(COMMANDS)
    assert "language_code" not in default.params
    assert russian.params["language_code"] == "ru"


async def test_webhook_journey_registered_only_when_asked(
    double: BotApi, bot_env: dict[str, str], start_bot: StartBot
) -> None:
    bot = await start_bot(bot_env, webhook=True)
    assert not double.bot_calls("setWebhook"), "a replica must not register the webhook"
    registration = await asyncio.create_subprocess_exec(
        sys.executable,
        "main.py",
        "set-webhook",
        cwd=ROOT,
        env=bot.env,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await asyncio.wait_for(registration.communicate(), 60)
    assert registration.returncode == 0, errors.decode()
    [call] = double.bot_calls("setWebhook")
    assert call.params["url"] == bot.webhook_url
    assert call.params["secret_token"] == WEBHOOK_SECRET
    await invite_journey(double)
    assert not double.bot_calls("getUpdates")


async def post_update(url: str, update: dict[str, Any], secret: str | None) -> int:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with aiohttp.ClientSession() as http, http.post(url, json=update, headers=headers) as r:
        return r.status


def help_update(update_id: int, user: User) -> dict[str, Any]:
    chat = {"id": user.id, "type": "private", "first_name": user.first_name}
    sender = {"id": user.id, "is_bot": False, "first_name": user.first_name}
    message = {
        "message_id": update_id,
        "date": 1_700_000_000,
        "chat": chat,
        "from": sender,
        "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
    }
    return {"update_id": update_id, "message": message}


async def test_webhook_refuses_a_wrong_secret_and_handles_a_repeat_once(
    double: BotApi, bot_env: dict[str, str], start_bot: StartBot
) -> None:
    bot = await start_bot(bot_env, webhook=True)
    user = double.new_user("Someone")
    await double.send_text(user, "/help")  # the double now knows the chat; no webhook is set
    update = help_update(900_001, user)
    assert await post_update(bot.webhook_url, update, None) == 401
    assert await post_update(bot.webhook_url, update, "wrong") == 401
    assert await post_update(bot.webhook_url, update, WEBHOOK_SECRET) == 200
    assert await post_update(bot.webhook_url, update, WEBHOOK_SECRET) == 200
    await asyncio.sleep(0.3)
    answers = [m for m in double.messages(user.id) if en("help")[:30] in text_of(m)]
    assert len(answers) == 1, "the update was handled once, and only with the right secret"


async def test_webhook_failed_update_is_redelivered_and_then_handled(
    double: BotApi, webhook: WebhookDelivery, bot_env: dict[str, str], start_bot: StartBot
) -> None:
    bot = await start_bot(bot_env, webhook=True)
    double.updates.webhook_secret = WEBHOOK_SECRET
    double.updates.webhook_targets = [bot.webhook_url]
    user = double.new_user("Unlucky")
    # The answer and the apology both fail on Telegram's side: the update answers 500.
    double.fail_next("sendMessage", 500, "Internal Server Error", times=2, chat_id=user.id)
    update_id = await double.send_text(user, "/help")
    await double.wait_for_message(user.id, has(en("help")[:30]))
    await double.updates.wait_until_acknowledged([update_id])
    statuses = [d.status for d in webhook.deliveries if d.update_id == update_id]
    assert statuses[0] == 500 and statuses[-1] == 200, statuses
    await asyncio.sleep(0.3)
    assert len([m for m in double.messages(user.id) if en("help")[:30] in text_of(m)]) == 1


async def test_two_instances_share_one_conversation(
    double: BotApi,
    webhook: WebhookDelivery,
    bot_env: dict[str, str],
    start_bot: StartBot,
    redis_url: str,
) -> None:
    env = {**bot_env, "REDIS_URL": redis_url}
    first = await start_bot(env, webhook=True)
    second = await start_bot(env, webhook=True)
    double.updates.webhook_secret = WEBHOOK_SECRET
    double.updates.webhook_targets = [first.webhook_url, second.webhook_url]  # alternate per update
    await invite_journey(double)
    targets = {d.url for d in webhook.deliveries}
    assert targets == {first.webhook_url, second.webhook_url}


async def test_a_delivery_while_the_update_is_being_handled_is_asked_to_come_again(
    double: BotApi, bot_env: dict[str, str], start_bot: StartBot
) -> None:
    """Telegram gave up waiting and delivered the update again: it is not taken for handled."""
    bot = await start_bot(bot_env, webhook=True)
    user = double.new_user("Impatient")
    await double.send_text(user, "/help")  # the double now knows the chat; no webhook is set
    update = help_update(900_002, user)
    hold = double.hold_next("sendMessage", chat_id=user.id)
    first = asyncio.create_task(post_update(bot.webhook_url, update, WEBHOOK_SECRET))
    await asyncio.wait_for(hold.reached.wait(), 10)
    assert await post_update(bot.webhook_url, update, WEBHOOK_SECRET) == 503
    hold.release()
    assert await first == 200
    assert await post_update(bot.webhook_url, update, WEBHOOK_SECRET) == 200
    await asyncio.sleep(0.3)
    assert len([m for m in double.messages(user.id) if en("help")[:30] in text_of(m)]) == 1


async def test_an_update_whose_instance_died_half_way_is_handled_by_another(
    double: BotApi,
    webhook: WebhookDelivery,
    bot_env: dict[str, str],
    start_bot: StartBot,
    redis_url: str,
) -> None:
    # One process per instance: the one killed is the one handling the update.
    env = {**bot_env, "REDIS_URL": redis_url, "WEB_WORKERS": "1"}
    first = await start_bot(env, webhook=True)
    second = await start_bot(env, webhook=True)
    double.updates.webhook_secret = WEBHOOK_SECRET
    double.updates.webhook_targets = [first.webhook_url]
    webhook.max_redeliveries = 100
    user = double.new_user("Unlucky")
    hold = double.hold_next("sendMessage", chat_id=user.id)
    update_id = await double.send_text(user, "/help")
    await asyncio.wait_for(hold.reached.wait(), 10)  # the first instance is half-way through
    double.updates.webhook_targets = [second.webhook_url]
    await first.kill()

    def statuses() -> list[int | None]:
        return [d.status for d in webhook.deliveries if d.update_id == update_id]

    for _ in range(100):  # Telegram delivers it again, to the second: still claimed, come later
        if 503 in statuses():
            break
        await asyncio.sleep(0.05)
    assert statuses()[0] is None and 503 in statuses(), statuses()
    claim = f"update:{double.bot_id}:{update_id}"
    lock = DefaultKeyBuilder().build(StorageKey(double.bot_id, user.id, user.id), "lock")
    async with Redis.from_url(redis_url) as redis:
        assert 0 < await redis.ttl(claim) <= CLAIM_TTL
        assert 0 < await redis.ttl(lock) <= CLAIM_TTL
        # The dead instance's claim on the update and its lock on the user run out (in a minute;
        # here at once), and the next delivery is handled.
        await redis.pexpire(claim, 1)
        await redis.pexpire(lock, 1)
    await double.wait_for_message(user.id, has(en("help")[:30]))
    await double.updates.wait_until_acknowledged([update_id])
    assert statuses()[-1] == 200, statuses()
    await asyncio.sleep(0.3)
    assert len([m for m in double.messages(user.id) if en("help")[:30] in text_of(m)]) == 1


async def test_rate_limit_is_waited_out_and_a_blocked_inviter_changes_nothing(
    double: BotApi, bot_env: dict[str, str], start_bot: StartBot
) -> None:
    await start_bot(bot_env)
    inviter, friend = double.new_user("Inviter"), double.new_user("Friend")
    inviter_code = await join(double, inviter)
    double.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=friend.id
    )
    await double.send_text(friend, "/help")
    await double.wait_for_message(friend.id, has(en("help")[:30]))
    refused = [c for c in double.bot_calls("sendMessage") if c.error_code == 429]
    assert refused, "the double refused the first attempt"
    double.block_bot(inviter.id)
    friend_code = await join(double, friend)
    await double.send_text(friend, f"/invite {inviter_code}")
    await double.wait_for_message(friend.id, has("Done! You joined with the code"))
    assert friend_code


async def test_database_outage_gets_apologies_and_recovers(
    double: BotApi, bot_env: dict[str, str], start_bot: StartBot
) -> None:
    proxy = DatabaseProxy(bot_env["DATABASE_URL"])
    await proxy.open()
    bot = await start_bot({**bot_env, "DATABASE_URL": proxy.url})
    user = double.new_user("Patient")
    await join(double, user)
    await proxy.shut()
    for _ in range(2):
        await double.send_text(user, "/code")
        await double.wait_for_message(user.id, has(en("apology")))
    async with aiohttp.ClientSession() as http, http.get(f"{bot.url}/healthz") as response:
        assert response.status == 503
    await proxy.open()
    await double.send_text(user, "/code")
    await double.wait_for_message(user.id, has("Your invite code"))
    assert bot.running
    assert await bot.stop() == 0
    await proxy.shut()


@pytest.mark.parametrize(
    ("per_user", "flood_rate"),
    [(3, "3"), (10, "0")],
    ids=["3-each-flood-control", "10-each-no-flood-control"],
)
async def test_sigterm_during_a_burst_handles_every_acknowledged_update(
    double: BotApi,
    bot_env: dict[str, str],
    start_bot: StartBot,
    service: ReferralService,
    per_user: int,
    flood_rate: str,
) -> None:
    """Each user's updates queue on their lock when SIGTERM comes: every update the bot has
    confirmed to Telegram still gets its one real answer, nobody gets an apology, and the log
    has no ERROR. A restart handles the rest."""
    env = {**bot_env, "FLOOD_RATE": flood_rate}
    users = [double.new_user(f"User{n}") for n in range(100)]
    for user in users:
        await verified_member(service, telegram_id=user.id)
    bot = await start_bot(env)
    sent: dict[int, User] = {}
    for user in users:
        for _ in range(per_user):
            sent[await double.send_text(user, "/code")] = user
    await asyncio.sleep(0.05)
    assert await bot.stop() == 0
    confirmed = Counter(sent[u].id for u in sent if double.updates.is_acknowledged(u))
    assert confirmed, "the bot took no update before SIGTERM"

    def cards(user: User) -> int:
        answers = [text_of(m) for m in double.messages(user.id) if m["from"]["is_bot"]]
        wrong = [text for text in answers if "Your invite code" not in text]
        assert not wrong, f"user {user.id} got {wrong}"
        return len(answers)

    for user in users:
        assert confirmed[user.id] <= cards(user) <= per_user, double.transcript(user.id)
    assert " ERROR " not in bot.log() and "Traceback" not in bot.log(), bot.log()

    # What was not confirmed comes again. (An update taken just before the stop but not yet
    # confirmed may be answered twice: polling delivers at least once.)
    await start_bot(env)
    await double.updates.wait_until_acknowledged(sent, timeout=30)
    for user in users:
        for _ in range(300):
            if cards(user) >= per_user:
                break
            await asyncio.sleep(0.1)
        assert cards(user) >= per_user, double.transcript(user.id)


@pytest.mark.parametrize("payload", ["_tgr_abcdef", "not-a-code!"])
async def test_ignored_payloads_still_greet(
    double: BotApi, bot_env: dict[str, str], start_bot: StartBot, payload: str
) -> None:
    await start_bot(bot_env)
    user = double.new_user("Curious")
    await double.send_text(user, f"/start {payload}")
    await double.wait_for_message(user.id, has(en("greeting")[:20]))


async def test_a_token_telegram_refuses_stops_start_up_with_one_line(
    double: BotApi, bot_env: dict[str, str]
) -> None:
    env = {**bot_env, "BOT_TOKEN": "42:REFUSED", "WEB_PORT": "0"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert errors.decode().strip().splitlines()[-1] == (
        "BOT_TOKEN was refused by Telegram: copy it again from @BotFather"
    )


async def test_a_malformed_bot_api_url_stops_start_up_with_one_line_and_no_token(
    double: BotApi, bot_env: dict[str, str]
) -> None:
    env = {**bot_env, "TELEGRAM_API_URL": "http://127.0.0.1:99999", "WEB_PORT": "0"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    last = errors.decode().strip().splitlines()[-1]
    assert last.startswith("cannot reach the Telegram Bot API: "), last
    assert "http://127.0.0.1:99999/bot123456:***/getMe" in last
    assert double.token.partition(":")[2] not in errors.decode()
