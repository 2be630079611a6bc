"""Operators' commands through the bot: /stats and its chart, /find with Block/Unblock, /export,
their menu, and nothing of it for anybody else."""

import csv
import gzip
import io
import logging
import struct
from typing import Any

import asyncpg
import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.types import BotCommandScopeAllPrivateChats, BotCommandScopeChat, BufferedInputFile
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.handlers import admin
from bot.texts import COMMANDS, OPERATOR_COMMANDS
from db.operators import EXPORT_COLUMNS, EXPORT_LOCK
from db.results import InviteOutcome
from db.service import ReferralService
from delivery import ChatDelivery
from settings import Settings
from tests.bot.conftest import MockedSession, People, Person, inline_buttons, texts_of
from tests.conftest import Clock, en, join, new_phone

OPERATOR_ID = 2**32 + 777


@pytest.fixture
def settings() -> Settings:
    return Settings(
        _env_file=None,
        bot_token=SecretStr("42:TEST"),
        secret_key=SecretStr("bot-tests-secret-key-of-32-characters"),
        admin_ids=[OPERATOR_ID],
    )


@pytest.fixture
def service(clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock) -> ReferralService:
    return ReferralService(
        pool,
        signing_key=b"test-secret",
        delivery=ChatDelivery(delay=0),
        clock=clock,
        admin_ids=[OPERATOR_ID],
    )


@pytest.fixture
def operator(dispatcher: Dispatcher, bot: Bot) -> Person:
    return Person(dispatcher, bot, OPERATOR_ID, new_phone())


def png_size(image: bytes) -> tuple[int, int]:
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", image[16:24])
    return width, height


async def test_only_operators_get_the_commands_in_their_menu(
    dispatcher: Dispatcher, session: MockedSession
) -> None:
    menus = [m for m in session.requests if isinstance(m, SetMyCommands)]
    for menu in menus:
        names = [command.command for command in menu.commands]
        if isinstance(menu.scope, BotCommandScopeChat):
            assert menu.scope.chat_id == OPERATOR_ID
            assert names == [*COMMANDS, *OPERATOR_COMMANDS]
        else:
            assert isinstance(menu.scope, BotCommandScopeAllPrivateChats)
            assert names == list(COMMANDS)
    operator_menus = [m for m in menus if isinstance(m.scope, BotCommandScopeChat)]
    assert sorted(m.language_code or "" for m in operator_menus) == ["", "ru"]
    russian = next(m for m in operator_menus if m.language_code == "ru")
    assert russian.commands[-5].description == "Статистика программы и график"


async def test_for_anybody_else_the_commands_do_not_exist(
    people: People, service: ReferralService, dispatcher: Dispatcher, bot: Bot
) -> None:
    member = await join(service)
    person = people()
    await join(service, person.phone, telegram_id=person.id)
    for command in ("/stats", "/find " + member.phone, "/export"):
        assert texts_of(await person.send(command)) == [en("not-understood")]
    forged = {
        "update_id": 990_001,
        "callback_query": {
            "id": "forged",
            "from": {"id": person.id, "is_bot": False, "first_name": "X"},
            "chat_instance": "1",
            "data": f"op:blocknow:{member.id}",
            "message": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": person.id, "type": "private"},
            },
        },
    }
    [answer] = await person.feed(forged)
    assert isinstance(answer, AnswerCallbackQuery) and answer.text == en("button-expired")
    card = await service.operators.member_card(member.id, operator=0)
    assert card is not None and card.status == "active"


async def test_stats_answers_the_figures_then_a_chart(
    operator: Person, service: ReferralService, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    inviter = await join(service)
    for _ in range(3):
        await service.invitations.activate_invite((await join(service)).id, inviter.invite_code)
    clock.advance(-3 * 86400)
    await join(service)
    clock.advance(3 * 86400)
    with caplog.at_level(logging.INFO):
        sent = await operator.send("/stats")
    text, photo = (m for m in sent if isinstance(m, SendMessage | SendPhoto))
    assert isinstance(text, SendMessage) and isinstance(photo, SendPhoto)
    assert "Members: 5" in text.text
    assert "Joined today: 4; in 7 days: 5; in 30 days: 5" in text.text
    assert "Joined with a code: 3 (60%)" in text.text
    assert f"1. +7 999 ***-**-{inviter.phone[-2:]}: 3" in text.text
    assert isinstance(photo.photo, BufferedInputFile)
    assert png_size(photo.photo.data) == (1200, 675)
    assert photo.caption == en("stats-chart-caption")
    assert f"operator {OPERATOR_ID} read the figures" in caplog.text


async def test_stats_in_russian(dispatcher: Dispatcher, bot: Bot, service: ReferralService) -> None:
    operator = Person(dispatcher, bot, OPERATOR_ID, new_phone(), "ru")
    inviter, member = await join(service), await join(service)
    await service.invitations.activate_invite(member.id, inviter.invite_code)
    text = texts_of(await operator.send("/stats"))[0]
    assert "Участников: 2" in text and "Пришли по коду: 1 (50\xa0%)" in text


async def test_find_shows_the_card_and_blocking_with_a_reason_works_both_ways(
    operator: Person, people: People, service: ReferralService
) -> None:
    inviter = await join(service)
    person = people()
    member = await join(service, person.phone, telegram_id=person.id)
    await service.invitations.activate_invite(member.id, inviter.invite_code)

    [card] = await operator.send(f"/find {member.invite_code.lower()}")
    assert isinstance(card, SendMessage)
    assert f"Phone: {member.phone}" in card.text and f"Telegram id: {person.id}" in card.text
    assert f"Inviter's code: <code>{inviter.invite_code}</code>" in card.text
    assert "Status: active" in card.text
    assert [b.text for b in inline_buttons(card)] == ["🚫 Block"]

    asked = texts_of(await operator.press("🚫 Block"))
    assert asked == [en("block-ask-reason", phone=member.phone)]
    [done] = await operator.send("sells <codes>, spams")
    assert isinstance(done, SendMessage)
    assert done.text.startswith(en("block-done", phone=member.phone))
    assert f"by {OPERATOR_ID}: sells &lt;codes&gt;, spams" in done.text
    assert [b.text for b in inline_buttons(done)] == ["✅ Unblock"]

    # The member cannot activate, and their code refuses newcomers.
    newcomer = people()
    await join(service, newcomer.phone, telegram_id=newcomer.id)
    refused = texts_of(await newcomer.send(f"/invite {member.invite_code}"))
    assert refused == [en("activation-code-suspended", code=member.invite_code)]
    newcomer_member = await service.members.member_by_telegram(newcomer.id)
    assert newcomer_member is not None
    offered = texts_of(await newcomer.send(f"/start {member.invite_code}"))
    assert offered[-1] == en("activation-code-suspended", code=member.invite_code)

    unblocked = await operator.press("✅ Unblock")
    [edited] = [m for m in unblocked if isinstance(m, EditMessageText)]
    assert edited.text.startswith(en("unblock-done", phone=member.phone))
    assert "Status: active" in edited.text
    joined = texts_of(await newcomer.send(f"/invite {member.invite_code}"))
    assert joined[0].startswith("Done!")


async def test_a_blocked_member_cannot_enter_a_code(
    operator: Person, people: People, service: ReferralService
) -> None:
    inviter, person = await join(service), people()
    member = await join(service, person.phone, telegram_id=person.id)
    await operator.send(f"/find {person.id}")
    await operator.press("🚫 Block")
    blocked = await operator.press("Block without a reason")
    [edited] = [m for m in blocked if isinstance(m, EditMessageText)]
    assert edited.text.startswith(en("block-done", phone=member.phone))
    assert texts_of(await person.send(f"/invite {inviter.invite_code}")) == [
        en("activation-member-blocked")
    ]
    again = await service.operators.block(member.id, operator=OPERATOR_ID)
    assert again.card is not None and again.card.blocked_by == OPERATOR_ID


async def test_block_can_be_cancelled(operator: Person, service: ReferralService) -> None:
    member = await join(service)
    await operator.send(f"/find {member.phone}")
    await operator.press("🚫 Block")
    cancelled = await operator.press("Cancel")
    assert [m.text for m in cancelled if isinstance(m, EditMessageText)] == [en("block-cancelled")]
    card = await service.operators.member_card(member.id, operator=OPERATOR_ID)
    assert card is not None and card.status == "active"
    # The next message is not taken for a reason.
    assert texts_of(await operator.send("just chatting")) == [en("not-understood")]


async def test_find_answers_usage_bad_input_nobody_and_several(
    operator: Person, service: ReferralService
) -> None:
    assert texts_of(await operator.send("/find")) == [en("find-usage")]
    bad = texts_of(await operator.send("/find who?"))
    assert bad == [en("find-bad-query", query="who?") + "\n\n" + en("find-usage")]
    assert texts_of(await operator.send("/find +7 999 000 00 00")) == [
        en("find-none", query="+7 999 000 00 00")
    ]
    phone = new_phone()
    await join(service, phone)
    await join(service, telegram_id=int(phone[1:]))
    several = texts_of(await operator.send(f"/find {phone[1:]}"))
    assert several[0] == f"2 members match <i>{phone[1:]}</i>:" and len(several) == 3
    gone = texts_of(await operator.send("/find 9999999999999"))
    assert gone == [en("find-none", query="9999999999999")]


async def exported(operator: Person, dispatcher: Dispatcher) -> list[TelegramMethod[Any]]:
    """/export, and what the bot sent until the export it started has ended."""
    before = len(operator.session.calls)
    await operator.send("/export")
    await dispatcher["exports"].wait()
    return operator.session.requests[before:]


async def test_export_sends_every_member_as_csv(
    operator: Person, session: MockedSession, service: ReferralService, dispatcher: Dispatcher
) -> None:
    inviter = await join(service)
    for _ in range(4):
        await service.invitations.activate_invite((await join(service)).id, inviter.invite_code)
    sent = await exported(operator, dispatcher)
    assert texts_of(sent)[0] == en("export-started")
    [document] = [m for m in sent if isinstance(m, SendDocument)]
    assert document.caption is not None and document.caption.startswith("5 members, as of ")
    [(name, content)] = session.uploads.items()
    assert name.startswith("members-") and name.endswith(".csv")
    header, *rows = list(csv.reader(io.StringIO(content.decode())))
    assert header == list(EXPORT_COLUMNS) and len(rows) == 5
    assert {row[1] for row in rows} >= {inviter.phone}


async def test_export_compresses_what_would_be_over_the_limit(
    operator: Person,
    session: MockedSession,
    service: ReferralService,
    dispatcher: Dispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for _ in range(20):
        await join(service)
    monkeypatch.setattr(admin, "TELEGRAM_DOCUMENT_LIMIT", 1000)
    sent = await exported(operator, dispatcher)
    [document] = [m for m in sent if isinstance(m, SendDocument)]
    assert document.caption is not None and en("export-compressed") in document.caption
    [(name, content)] = session.uploads.items()
    assert name.endswith(".csv.gz")
    assert gzip.decompress(content).decode().count("\n") == 21
    monkeypatch.setattr(admin, "TELEGRAM_DOCUMENT_LIMIT", 10)
    [_, too_large] = texts_of(await exported(operator, dispatcher))
    assert too_large == en("export-too-large", size="0")


async def test_a_second_export_while_one_runs_is_told_so(
    operator: Person, dispatcher: Dispatcher, service: ReferralService
) -> None:
    await join(service)
    # The export runs beside the updates: the operator's next /export is answered at once.
    async with service.connections.acquire() as holder:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE referral_counts IN ACCESS EXCLUSIVE MODE")
        first = texts_of(await operator.send("/export"))
        second = texts_of(await operator.send("/export"))
        await transaction.rollback()
    await dispatcher["exports"].wait()
    assert first == [en("export-started")] and second == [en("export-busy")]
    # Another instance's export holds the database's lock.
    async with service.connections.acquire() as holder, holder.transaction():
        await holder.execute("SELECT pg_advisory_xact_lock($1)", EXPORT_LOCK)
        answered = texts_of(await exported(operator, dispatcher))
    assert answered == [en("export-started"), en("export-busy")]
    assert not dispatcher["exports"].running


async def test_a_failed_export_is_apologised_for(
    operator: Person, dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(admin, "compressed", failing)
    monkeypatch.setattr(admin, "TELEGRAM_DOCUMENT_LIMIT", 1)
    assert texts_of(await exported(operator, dispatcher))[-1] == en("apology")


async def test_operator_actions_are_logged_without_phones(
    operator: Person,
    service: ReferralService,
    dispatcher: Dispatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    member = await join(service)
    with caplog.at_level(logging.INFO):
        await operator.send(f"/find {member.phone}")
        await operator.press("🚫 Block")
        await operator.send("no reason really")
        await operator.send("/export")
        await dispatcher["exports"].wait()
    logged = caplog.text
    for action in (
        "searched members by phone",
        f"blocked member {member.id}",
        "exported 1 members",
    ):
        assert f"operator {OPERATOR_ID} {action}" in logged
    assert member.phone[1:] not in logged and member.phone[-10:] not in logged


async def test_blocked_outcomes_in_russian(
    dispatcher: Dispatcher, bot: Bot, service: ReferralService
) -> None:
    owner = await join(service)
    person = Person(dispatcher, bot, 2**32 + 99_001, new_phone(), "ru")
    await join(service, person.phone, telegram_id=person.id)
    await service.operators.block(owner.id, operator=OPERATOR_ID)
    [answer] = texts_of(await person.send(f"/invite {owner.invite_code}"))
    suspended = "приостановлен: присоединиться по нему сейчас нельзя."
    assert answer == f"Код <code>{owner.invite_code}</code> {suspended}"
    activation = await service.invitations.activate_invite(owner.id, "AAAAAA")
    assert activation.outcome is InviteOutcome.MEMBER_BLOCKED


async def test_stats_counts_the_outbound_events_and_events_retry_sends_failed_ones_again(
    operator: Person, service: ReferralService, caplog: pytest.LogCaptureFixture
) -> None:
    async with service.connections.acquire() as connection:
        await connection.execute("TRUNCATE outbox_events, broadcasts")
        await connection.execute(
            """
            INSERT INTO outbox_events (id, target, type, member_id, created_at, retrying_since,
                                       body, state)
            SELECT gen_random_uuid(), 0, 'member.joined', n, now(), now(), '{}', s
            FROM generate_series(1, 3) AS n, unnest(ARRAY['pending', 'failed']) AS s
            """
        )
    sent = await operator.send("/stats")
    assert "Waiting for delivery: 3; failed: 3" in texts_of(sent)[0]
    with caplog.at_level(logging.INFO):
        [answer] = texts_of(await operator.send("/events_retry"))
    assert answer == "3 failed events will be sent again."
    assert await service.events.counts() == (6, 0)
    audit = f"operator {OPERATOR_ID} requeued 3 failed events"
    assert [record.getMessage() for record in caplog.records].count(audit) == 1


async def test_broadcast_previews_then_queues_on_send_and_stops_on_request(
    operator: Person, people: People, service: ReferralService
) -> None:
    for _ in range(3):
        person = people()
        await join(service, telegram_id=person.id)
    await join(service)  # no Telegram account: not in the audience
    assert texts_of(await operator.send("/broadcast")) == [en("broadcast-ask")]
    preview = await operator.send("Tom & Jerry <3")  # typed, not formatting: kept as typed
    assert texts_of(preview) == ["Tom &amp; Jerry &lt;3", "Above is what 3 members will get."]
    started = await operator.press("Send to 3 members")
    assert texts_of(started)[:2] == [
        "Sending to 3 members.",
        "<b>Broadcast</b>: 0 of 3\nSent: 0; unreachable: 0; failed: 0",
    ]
    async with service.connections.acquire() as connection:
        row = await connection.fetchrow("SELECT * FROM broadcasts")
    assert row["text"] == "Tom &amp; Jerry &lt;3" and row["total"] == 3
    assert row["status"] == "sending" and row["progress_message_id"] is not None
    stopped = await operator.press("Stop sending")
    assert texts_of(stopped) == [en("broadcast-stopping")]
    async with service.connections.acquire() as connection:
        assert await connection.fetchval("SELECT status FROM broadcasts") == "cancelled"
    assert texts_of(await operator.press("Stop sending")) == [en("broadcast-over")]


async def test_broadcast_can_be_discarded_and_takes_only_text_or_a_photo(
    operator: Person, service: ReferralService
) -> None:
    await operator.send("/broadcast")
    sticker = {
        "update_id": 99,
        "message": {
            "message_id": 5,
            "date": 0,
            "chat": {"id": operator.id, "type": "private"},
            "from": {"id": operator.id, "is_bot": False, "first_name": "Op"},
            "sticker": {
                "file_id": "s",
                "file_unique_id": "s",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            },
        },
    }
    assert texts_of(await operator.feed(sticker)) == [en("broadcast-unsupported")]
    await operator.send("Hi")
    assert texts_of(await operator.press("Cancel")) == [en("broadcast-discarded")]
    async with service.connections.acquire() as connection:
        assert await connection.fetchval("SELECT count(*) FROM broadcasts") == 0


async def test_a_member_marked_unreachable_is_reachable_again_once_they_write(
    people: People, service: ReferralService
) -> None:
    person = people()
    member = await join(service, telegram_id=person.id)
    async with service.connections.acquire() as connection:
        await connection.execute(
            "UPDATE members SET unreachable_at = now() WHERE id = $1", member.id
        )
    assert await service.broadcasts.audience_size() == 0
    await person.send("/code")
    assert await service.broadcasts.audience_size() == 1
