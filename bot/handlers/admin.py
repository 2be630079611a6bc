"""Operators' commands (ADMIN_IDS): `/stats` with its chart, `/find` with Block/Unblock, `/export`.

The router lets through only operators' updates, so for anybody else these commands and buttons
fall to the fallbacks like any unknown command. The rules are the service's (db/operators.py),
which also logs each action with the operator's id.
"""

import asyncio
import gzip
import logging
import shutil
import tempfile
from collections.abc import Coroutine
from contextlib import suppress
from pathlib import Path
from typing import Any

from aiogram import Bot, Router
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    FSInputFile,
    Message,
    TelegramObject,
    User,
)
from aiogram.utils.i18n import get_i18n

from bot import charts, keyboards, texts
from bot.callbacks import BroadcastAction, BroadcastChoice, MemberAction, MemberChoice
from bot.filters import typed_text
from bot.handlers.replies import edit_pressed_message
from bot.middlewares import FOR_LANGUAGE
from bot.states import OperatorStep
from bot.texts import _, plural
from db.results import BlockChange, MemberCard
from db.service import ReferralService

log = logging.getLogger(__name__)

TELEGRAM_DOCUMENT_LIMIT = 50 * 2**20  # bytes a bot may upload through Telegram's own Bot API
UPLOAD_TIMEOUT = 600  # seconds the upload of an export may take
BLOCKED_MEMBER = "member"  # the state's data during OperatorStep.block_reason
BROADCAST_TEXT, BROADCAST_PHOTO = "text", "photo"  # during OperatorStep.broadcast_confirm


async def from_operator(
    event: TelegramObject, service: ReferralService, event_from_user: User | None = None
) -> bool:
    """The router's filter: only operators' messages and buttons get in."""
    return event_from_user is not None and service.operators.is_operator(event_from_user.id)


class ExportSlot:
    """The export this process is running, if any: one at a time (the service also allows one
    across instances). It runs beside the updates, so that the operator's next message (a
    second /export) is answered while it runs instead of waiting for it."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, export: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.create_task(export)

    async def wait(self) -> None:
        """Until the running export, if any, has ended."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def stop(self) -> None:
        """At shutdown: an export still running is abandoned (the operator may ask again)."""
        if self.running:
            assert self._task is not None
            log.warning("shutting down: the running export is abandoned")
            self._task.cancel()
        await self.wait()


# /stats


async def show_stats(
    message: Message, bot: Bot, service: ReferralService, event_from_user: User
) -> None:
    """The figures at once, then the chart (drawn in a worker thread)."""
    stats = await service.operators.stats(operator=event_from_user.id)
    events = await service.events.counts()
    await message.answer(texts.program_stats(stats) + "\n\n" + texts.event_counts(events))
    await bot.send_chat_action(message.chat.id, ChatAction.UPLOAD_PHOTO)
    chart_texts = charts.ChartTexts(
        title=_("chart-title"),
        joined=_("chart-joined"),
        activated=_("chart-activated"),
        day_axis=_("chart-axis-day"),
        people_axis=_("chart-axis-people"),
        day_labels=[texts.chart_day(day) for day in stats.days],
        number=texts.number,
    )
    image = await asyncio.to_thread(charts.days_chart, stats.days, chart_texts)
    await message.answer_photo(
        BufferedInputFile(image, filename="stats.png"), caption=_("stats-chart-caption")
    )


async def retry_failed_events(
    message: Message, service: ReferralService, event_from_user: User
) -> None:
    """`/events_retry`: the events given up after the retry period are tried again."""
    requeued = await service.events.requeue_failed(operator=event_from_user.id)
    await message.answer(plural("events-requeued", requeued))


# /broadcast


async def ask_for_broadcast(message: Message, state: FSMContext) -> None:
    await state.set_state(OperatorStep.broadcast_message)
    await message.answer(_("broadcast-ask"))


async def not_a_command(message: Message) -> bool:
    """While a broadcast is drafted, commands (/cancel, say) still work as commands."""
    return not (message.text or "").startswith("/")


async def preview_broadcast(message: Message, state: FSMContext, service: ReferralService) -> None:
    """The message as members will get it, and "Send to N members" / Cancel."""
    photo = message.photo[-1].file_id if message.photo else None
    if photo is None and not message.text:
        await message.answer(_("broadcast-unsupported"))
        return
    text = message.html_text
    audience = await service.broadcasts.audience_size()
    await state.set_state(OperatorStep.broadcast_confirm)
    await state.update_data({BROADCAST_TEXT: text, BROADCAST_PHOTO: photo})
    if photo is not None:
        await message.answer_photo(photo, caption=text or None)
    else:
        await message.answer(text)
    await message.answer(
        plural("broadcast-preview", audience), reply_markup=keyboards.broadcast_confirm(audience)
    )


async def answer_broadcast_button(
    callback: CallbackQuery,
    callback_data: BroadcastChoice,
    state: FSMContext,
    service: ReferralService,
) -> None:
    operator = callback.from_user.id
    if callback_data.action is BroadcastAction.STOP:
        stopped = await service.broadcasts.cancel(callback_data.broadcast, operator=operator)
        await callback.answer(_("broadcast-stopping" if stopped else "broadcast-over"))
        return
    await callback.answer()
    draft = await state.get_data()
    await state.clear()
    if callback_data.action is BroadcastAction.DISCARD:
        await edit_pressed_message(callback, _("broadcast-discarded"))
        return
    text = draft.get(BROADCAST_TEXT)
    message = callback.message
    if not isinstance(text, str) or not isinstance(message, Message):
        await edit_pressed_message(callback, _("broadcast-expired"))
        return
    broadcast = await service.broadcasts.create(
        operator=operator,
        chat_id=message.chat.id,
        language=get_i18n().current_locale,
        text=text,
        photo=draft.get(BROADCAST_PHOTO),
    )
    await edit_pressed_message(callback, plural("broadcast-started", broadcast.total))
    progress = await message.answer(
        texts.broadcast_progress(broadcast),
        reply_markup=keyboards.broadcast_progress(broadcast.id),
    )
    await service.broadcasts.set_progress_message(broadcast.id, progress.message_id)


# /find, the card and its buttons


async def find_member(
    message: Message, command: CommandObject, service: ReferralService, event_from_user: User
) -> None:
    query = (command.args or "").strip()
    if not query:
        await message.answer(_("find-usage"))
        return
    found = await service.operators.find_members(query, operator=event_from_user.id)
    shown = texts.quoted(query)
    if not found.kinds:
        await message.answer(_("find-bad-query", query=shown) + "\n\n" + _("find-usage"))
        return
    if not found.members:
        await message.answer(_("find-none", query=shown))
        return
    if len(found.members) > 1:
        await message.answer(plural("find-several", len(found.members), query=shown))
    for card in found.members:
        await message.answer(texts.member_card(card), reply_markup=keyboards.member_card(card))


def changed_card(change: BlockChange, *, blocking: bool) -> tuple[str, MemberCard | None]:
    """What a Block or Unblock did, followed by the member's card as it is now."""
    if change.card is None:
        return _("member-gone"), None
    said = texts.block_change(change.outcome, change.card.phone, blocking=blocking)
    return f"{said}\n\n{texts.member_card(change.card)}", change.card


async def answer_member_button(
    callback: CallbackQuery,
    callback_data: MemberChoice,
    state: FSMContext,
    service: ReferralService,
) -> None:
    operators, operator = service.operators, callback.from_user.id
    member_id = callback_data.member
    await callback.answer()
    if callback_data.action is MemberAction.BLOCK:
        card = await operators.member_card(member_id, operator=operator)
        if card is None:
            await edit_pressed_message(callback, _("member-gone"))
            return
        await state.set_state(OperatorStep.block_reason)
        await state.update_data({BLOCKED_MEMBER: member_id})
        if callback.message is not None:
            question = _("block-ask-reason", phone=card.phone)
            await callback.message.answer(question, reply_markup=keyboards.block_question(card.id))
        return
    await state.clear()
    if callback_data.action is MemberAction.CANCEL:
        await edit_pressed_message(callback, _("block-cancelled"))
        return
    blocking = callback_data.action is MemberAction.BLOCK_NOW
    if blocking:
        change = await operators.block(member_id, operator=operator)
    else:
        change = await operators.unblock(member_id, operator=operator)
    text, card = changed_card(change, blocking=blocking)
    await edit_pressed_message(callback, text, keyboards.member_card(card) if card else None)


async def block_with_reason(
    message: Message,
    text: str,
    state: FSMContext,
    service: ReferralService,
    event_from_user: User,
) -> None:
    """The reason typed after Block: block the member with it."""
    member_id = (await state.get_data()).get(BLOCKED_MEMBER)
    await state.clear()
    if not isinstance(member_id, int):
        await message.answer(_("member-gone"))
        return
    change = await service.operators.block(member_id, operator=event_from_user.id, reason=text)
    said, card = changed_card(change, blocking=True)
    await message.answer(said, reply_markup=keyboards.member_card(card) if card else None)


# /export


async def export_members(
    message: Message,
    bot: Bot,
    service: ReferralService,
    event_from_user: User,
    exports: ExportSlot,
) -> None:
    """All members as a CSV document, prepared beside the updates (see ExportSlot)."""
    if exports.running:
        await message.answer(_("export-busy"))
        return
    await message.answer(_("export-started"))
    exports.start(send_export(bot, message.chat.id, service, event_from_user.id))


async def send_export(bot: Bot, chat_id: int, service: ReferralService, operator: int) -> None:
    """The CSV streamed by the database into a temporary file and uploaded from it;
    gzip-compressed when it would be over Telegram's limit. An error is logged and the
    operator told, as the error handler would for an update."""
    try:
        with tempfile.TemporaryDirectory(prefix="export-") as folder:
            path = Path(folder) / f"members-{service.now():%Y%m%d-%H%M}.csv"
            export = await service.operators.export_members(path, operator=operator)
            if export.busy:
                await bot.send_message(chat_id, _("export-busy"))
                return
            caption = plural("export-caption", export.rows, time=texts.moment(service.now()))
            if path.stat().st_size > TELEGRAM_DOCUMENT_LIMIT:
                path = await asyncio.to_thread(compressed, path)
                caption += "\n" + _("export-compressed")
            if path.stat().st_size > TELEGRAM_DOCUMENT_LIMIT:
                size = texts.number(path.stat().st_size // 2**20)
                await bot.send_message(chat_id, _("export-too-large", size=size))
                return
            await bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
            await bot.send_document(
                chat_id,
                FSInputFile(path, filename=path.name),
                caption=caption,
                request_timeout=UPLOAD_TIMEOUT,
            )
    except Exception:
        log.exception("the export of operator %d failed", operator)
        with suppress(TelegramAPIError):
            await bot.send_message(chat_id, _("apology"))


def compressed(path: Path) -> Path:
    """`path` gzip-compressed beside it, a chunk at a time."""
    target = path.with_name(path.name + ".gz")
    with path.open("rb") as source, gzip.open(target, "wb", compresslevel=6) as sink:
        shutil.copyfileobj(source, sink, 2**20)
    path.unlink()
    return target


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(from_operator)
    router.callback_query.filter(from_operator)
    router.message.register(show_stats, Command("stats"), flags=FOR_LANGUAGE)
    router.message.register(find_member, Command("find"), flags=FOR_LANGUAGE)
    router.message.register(export_members, Command("export"), flags=FOR_LANGUAGE)
    router.message.register(retry_failed_events, Command("events_retry"), flags=FOR_LANGUAGE)
    router.message.register(ask_for_broadcast, Command("broadcast"), flags=FOR_LANGUAGE)
    router.message.register(
        preview_broadcast,
        StateFilter(OperatorStep.broadcast_message),
        not_a_command,
        flags=FOR_LANGUAGE,
    )
    router.callback_query.register(
        answer_broadcast_button, BroadcastChoice.filter(), flags=FOR_LANGUAGE
    )
    router.message.register(
        block_with_reason, StateFilter(OperatorStep.block_reason), typed_text, flags=FOR_LANGUAGE
    )
    router.callback_query.register(answer_member_button, MemberChoice.filter(), flags=FOR_LANGUAGE)
    return router
