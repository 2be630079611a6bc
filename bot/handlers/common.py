"""Commands for everybody: `/help`, `/cancel`, `/logout`."""

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove, User

from bot import texts
from bot.middlewares import FOR_LANGUAGE
from bot.texts import _
from db.service import ReferralService


async def show_help(message: Message) -> None:
    await message.answer(texts.help_text())


async def cancel(message: Message, state: FSMContext) -> None:
    """Leave whatever step the person is in (and the contact keyboard with it)."""
    text = _("cancelled") if await state.get_state() is not None else _("nothing-to-cancel")
    await state.clear()
    await message.answer(text, reply_markup=ReplyKeyboardRemove())


async def logout(
    message: Message, event_from_user: User, state: FSMContext, service: ReferralService
) -> None:
    unlinked = await service.members.unlink_telegram(event_from_user.id)
    await state.clear()
    text = _("logged-out") if unlinked else _("not-logged-in")
    await message.answer(text, reply_markup=ReplyKeyboardRemove())


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_help, Command("help"), flags=FOR_LANGUAGE)
    router.message.register(cancel, Command("cancel"), flags=FOR_LANGUAGE)
    router.message.register(logout, Command("logout"), flags=FOR_LANGUAGE)
    return router
