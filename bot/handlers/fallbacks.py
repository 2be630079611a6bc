"""Whatever no other handler took: unknown messages and buttons whose moment has passed."""

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot import texts


async def not_understood(message: Message) -> None:
    await message.answer(texts.NOT_UNDERSTOOD)


async def button_expired(callback: CallbackQuery) -> None:
    """An old button (say "Send a new code" after verification): answer it and do nothing."""
    await callback.answer(texts.BUTTON_EXPIRED)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(not_understood)
    router.callback_query.register(button_expired)
    return router
