"""Unexpected errors: one log line with the update id and traceback, a short apology, go on."""

import logging

from aiogram import Router
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, Update, User
from aiogram.utils.i18n import I18n

from bot.texts import _
from locales import language_of

log = logging.getLogger(__name__)


async def user_blocked_bot(event: ErrorEvent) -> None:
    """The person blocked the bot while we answered: nobody is left to apologise to."""
    log.warning("update %d: the user blocked the bot", event.update.update_id)


async def apologise(event: ErrorEvent, i18n: I18n, event_from_user: User | None = None) -> None:
    """Apologise in the person's Telegram language (the error may be the database's, so no
    choice is read from it); if Telegram itself is failing, fail the update so that a webhook
    gets it again."""
    update = event.update
    log.error("update %d failed", update.update_id, exc_info=event.exception)
    code = event_from_user.language_code if event_from_user else None
    language = language_of(code, i18n.available_locales, i18n.default_locale)
    with i18n.context(), i18n.use_locale(language):
        await _apologise(update)


async def _apologise(update: Update) -> None:
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(_("apology"), show_alert=True)
        elif update.message is not None:
            await update.message.answer(_("apology"))
    except (TelegramServerError, TelegramNetworkError, TelegramRetryAfter):
        raise  # nobody has been told anything: a later delivery of the update may do better
    except TelegramAPIError as error:
        log.warning("update %d: apology not sent: %s", update.update_id, type(error).__name__)


def create_router() -> Router:
    router = Router(name=__name__)
    router.errors.register(user_blocked_bot, ExceptionTypeFilter(TelegramForbiddenError))
    router.errors.register(apologise)
    return router
