"""Answers to a pressed inline button: edit the message it sits under."""

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message


async def edit_pressed_message(
    callback: CallbackQuery, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """Replace the text and buttons of the message whose button was pressed."""
    message = callback.message
    if not isinstance(message, Message):  # too old to edit: answer with a new message
        if message is not None:
            await message.answer(text, reply_markup=reply_markup)
        return
    try:
        await message.edit_text(text, reply_markup=reply_markup)
    except TelegramBadRequest as error:
        if "not modified" not in error.message:  # a repeated press changes nothing: fine
            raise
