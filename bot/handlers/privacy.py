"""Personal data: `/privacy` (for anybody), `/mydata`, and `/delete` with its confirmation."""

import json

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot import keyboards, texts
from bot.callbacks import ErasureAnswer
from bot.handlers.replies import edit_pressed_message
from bot.middlewares import FOR_LANGUAGE, MEMBER_REQUIRED
from bot.texts import _
from db.results import Member
from db.service import ReferralService
from settings import Settings


async def show_privacy(message: Message, settings: Settings) -> None:
    await message.answer(
        texts.privacy(settings.privacy_contact, settings.privacy_policy_url),
        disable_web_page_preview=True,
    )


async def send_my_data(message: Message, service: ReferralService, member: Member) -> None:
    """Everything kept about the member, as a JSON file."""
    data = await service.privacy.member_data(member.id)
    if data is None:
        await message.answer(_("share-phone-first"))
        return
    document = json.dumps(data.as_document(), ensure_ascii=False, indent=2).encode()
    await message.answer_document(
        BufferedInputFile(document, filename="my-data.json"), caption=_("mydata-caption")
    )


async def ask_to_erase(message: Message) -> None:
    await message.answer(_("delete-confirm"), reply_markup=keyboards.erasure_question())


async def answer_erasure(
    callback: CallbackQuery,
    callback_data: ErasureAnswer,
    state: FSMContext,
    service: ReferralService,
    member: Member,
) -> None:
    """Delete erases the member (a stale button finds no member and changes nothing)."""
    await callback.answer()
    if not callback_data.confirm:
        await edit_pressed_message(callback, _("delete-kept"))
        return
    await service.privacy.erase_member(member.id)
    await state.clear()
    await edit_pressed_message(callback, _("delete-done"))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_privacy, Command("privacy"), flags=FOR_LANGUAGE)
    router.message.register(send_my_data, Command("mydata"), flags=MEMBER_REQUIRED)
    router.message.register(ask_to_erase, Command("delete"), flags=MEMBER_REQUIRED)
    router.callback_query.register(answer_erasure, ErasureAnswer.filter(), flags=MEMBER_REQUIRED)
    return router
