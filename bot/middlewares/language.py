"""The language of each update's answers: the person's own choice, else Telegram's
`language_code`, else `DEFAULT_LANGUAGE` (texts come from the catalogs in `locales/`)."""

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n

from db.results import Member
from locales import language_of

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

CHOSEN_LANGUAGE = "language"  # a newcomer's choice, in the conversation's data until they join


class TelegramLanguage(BaseMiddleware):
    """Outer, on every update: the sender's Telegram language until a choice is known, so that
    even the answers given before any handler (flood control, group chats) speak it."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        language = self.i18n.default_locale
        if user is not None and user.language_code:
            language = language_of(
                user.language_code, self.i18n.available_locales, self.i18n.default_locale
            )
        with self.i18n.context(), self.i18n.use_locale(language):
            return await handler(event, data)


class ChosenLanguage(BaseMiddleware):
    """Inner, after `MemberMiddleware`: the language a member chose (kept in the database), or
    a newcomer's choice (kept in the conversation until verification moves it to the member)."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        member: Member | None = data.get("member")
        if member is not None:
            chosen = member.language
        else:
            state: FSMContext | None = data.get("state")
            chosen = (await state.get_data()).get(CHOSEN_LANGUAGE) if state else None
        if chosen in self.i18n.locales:
            self.i18n.current_locale = chosen
        return await handler(event, data)
