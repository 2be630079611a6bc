"""Commands for everybody: `/help`, `/cancel`, `/logout`."""

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove, User

from bot import texts
from db.service import ReferralService


async def show_help(message: Message) -> None:
    await message.answer(texts.HELP)


async def cancel(message: Message, state: FSMContext) -> None:
    """Leave whatever step the person is in (and the contact keyboard with it)."""
    text = texts.CANCELLED if await state.get_state() is not None else texts.NOTHING_TO_CANCEL
    await state.clear()
    await message.answer(text, reply_markup=ReplyKeyboardRemove())


async def logout(
    message: Message, event_from_user: User, state: FSMContext, service: ReferralService
) -> None:
    unlinked = await service.unlink_telegram(event_from_user.id)
    await state.clear()
    text = texts.LOGGED_OUT if unlinked else texts.NOT_LOGGED_IN
    await message.answer(text, reply_markup=ReplyKeyboardRemove())


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_help, Command("help"))
    router.message.register(cancel, Command("cancel"))
    router.message.register(logout, Command("logout"))
    return router
