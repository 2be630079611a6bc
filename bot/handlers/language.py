"""`/language`: the person picks the language the bot speaks to them."""

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n

from bot import keyboards
from bot.callbacks import LanguageChoice
from bot.handlers.replies import edit_pressed_message
from bot.middlewares import MEMBER_OPTIONAL
from bot.middlewares.language import CHOSEN_LANGUAGE
from bot.texts import _
from db.results import Member
from db.service import ReferralService


async def offer_languages(message: Message) -> None:
    await message.answer(_("language-choose"), reply_markup=keyboards.languages())


async def choose_language(
    callback: CallbackQuery,
    callback_data: LanguageChoice,
    state: FSMContext,
    i18n: I18n,
    service: ReferralService,
    member: Member | None,
) -> None:
    """Kept on the member, or in a newcomer's conversation until their number is verified."""
    language = callback_data.language
    if language not in i18n.available_locales:  # a button of a language since removed
        await callback.answer(_("button-expired"))
        return
    if member is not None:
        await service.members.set_language(member.id, language)
    else:
        await state.update_data({CHOSEN_LANGUAGE: language})
    i18n.current_locale = language
    await callback.answer()
    await edit_pressed_message(callback, _("language-set"))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(offer_languages, Command("language"), flags=MEMBER_OPTIONAL)
    router.callback_query.register(choose_language, LanguageChoice.filter(), flags=MEMBER_OPTIONAL)
    return router
