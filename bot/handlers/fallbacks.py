"""Whatever no other handler took: anything but the contact during the phone step, unknown
messages, and buttons whose moment has passed."""

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.types import CallbackQuery, Message

from bot import keyboards
from bot.middlewares import FOR_LANGUAGE
from bot.states import Joining
from bot.texts import _


async def remind_to_use_button(message: Message) -> None:
    """A typed number (or anything else) where the contact was asked for: only the button proves
    that the number is the sender's own."""
    await message.answer(_("use-the-button"), reply_markup=keyboards.contact_request())


async def not_understood(message: Message) -> None:
    await message.answer(_("not-understood"))


async def button_expired(callback: CallbackQuery) -> None:
    """An old button (say "Send a new code" after verification): answer it and do nothing."""
    await callback.answer(_("button-expired"))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(remind_to_use_button, StateFilter(Joining.phone))
    router.message.register(not_understood, flags=FOR_LANGUAGE)
    router.callback_query.register(button_expired, flags=FOR_LANGUAGE)
    return router
