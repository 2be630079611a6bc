"""Joining: `/start` (with or without a deep link), the shared contact, the code, the welcome."""

from aiogram import Bot, Router
from aiogram.filters import CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    Contact,
    Message,
    ReplyKeyboardRemove,
    User,
)
from aiogram.utils.i18n import get_i18n

from bot import keyboards, texts
from bot.callbacks import NewCodeRequest
from bot.deep_links import StartPayload, member_link, read_start_payload
from bot.filters import shared_contact, typed_text
from bot.handlers.invitations import describe, offer_invite
from bot.middlewares import MEMBER_OPTIONAL
from bot.middlewares.language import CHOSEN_LANGUAGE
from bot.notifications import notify_inviter
from bot.states import Joining
from bot.texts import _
from db.results import CodeRequestOutcome, Member, Verification, VerifyOutcome
from db.service import ReferralService
from sharing.links import share_url

DEAD_CODE = {VerifyOutcome.EXPIRED, VerifyOutcome.TOO_MANY_ATTEMPTS, VerifyOutcome.NO_CODE}
CONTACT_KEYBOARD = "contact_keyboard"  # whether the code step still shows the contact button


async def send_menu(bot: Bot, chat_id: int, member: Member, text: str | None = None) -> None:
    """The main menu: My code, My referrals, Enter an invite code, Share."""
    text = text or _("menu")
    link = await member_link(bot, member.invite_code)
    share = share_url(link, texts.share_text(member.invite_code))
    await bot.send_message(chat_id, text, reply_markup=keyboards.main_menu(share))


async def start(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    bot: Bot,
    service: ReferralService,
    member: Member | None,
) -> None:
    """`/start`: a newcomer is asked for the contact; a member gets the menu (and an offer)."""
    payload = read_start_payload(command.args)
    if member is None:
        await greet_newcomer(message, state, payload)
        return
    await state.clear()
    if payload.malformed:
        await message.answer(_("malformed-link"))
    await send_menu(bot, message.chat.id, member, _("member-start"))
    if payload.invite_code:
        await offer_invite(message, service, member, payload.invite_code)


async def greet_newcomer(message: Message, state: FSMContext, payload: StartPayload) -> None:
    """Ask for the contact, remembering the link's invite code (and a language the newcomer
    chose) until the phone is verified."""
    language = (await state.get_data()).get(CHOSEN_LANGUAGE)
    await state.set_state(Joining.phone)
    data = {"invite_code": payload.invite_code, CHOSEN_LANGUAGE: language}
    await state.set_data({key: value for key, value in data.items() if value})
    lines = [_("greeting")]
    if payload.invite_code:
        lines.append(texts.invite_remembered(payload.invite_code))
    if payload.malformed:
        lines.append(_("malformed-link"))
    await message.answer("\n\n".join(lines), reply_markup=keyboards.contact_request())


async def accept_contact(
    message: Message,
    contact: Contact,
    event_from_user: User,
    state: FSMContext,
    service: ReferralService,
) -> None:
    """Send a code to the sender's own number; anybody else's contact is refused."""
    if contact.user_id != event_from_user.id:
        await message.answer(_("foreign-contact"), reply_markup=keyboards.contact_request())
        return
    request = await service.members.request_code(contact.phone_number)
    if request.phone is None:
        await message.answer(texts.code_not_sent(request), reply_markup=keyboards.contact_request())
        return
    await state.set_state(Joining.code)
    sent = request.outcome is CodeRequestOutcome.SENT
    # The contact keyboard goes with the code (the digits need the whole screen) unless the
    # message carries "Send a new code" instead: then it goes with the welcome.
    await state.update_data({"phone": request.phone, CONTACT_KEYBOARD: not sent})
    if sent:
        text = texts.code_sent(request, service.members.code_length)
        await message.answer(text, reply_markup=ReplyKeyboardRemove())
        return
    await message.answer(texts.code_not_sent(request), reply_markup=keyboards.new_code())


async def check_code(
    message: Message,
    text: str,
    event_from_user: User,
    state: FSMContext,
    bot: Bot,
    service: ReferralService,
) -> None:
    """The code step: welcome on success, otherwise say why (attempts left, expired, dead)."""
    data = await state.get_data()
    verification = await service.members.verify_code(
        data.get("phone", ""),
        text,
        telegram_id=event_from_user.id,
        language=data.get(CHOSEN_LANGUAGE),
        usual_language=get_i18n().current_locale,  # their Telegram's, for notices to them
    )
    if verification.member is None:
        await reject_code(message, state, verification, service.members.code_length)
        return
    await state.clear()
    invite_code, keyboard_shown = data.get("invite_code"), data.get(CONTACT_KEYBOARD, False)
    await welcome(message, bot, service, verification, invite_code, keyboard_shown=keyboard_shown)


async def reject_code(
    message: Message, state: FSMContext, verification: Verification, code_length: int
) -> None:
    text = texts.code_rejected(verification.outcome, verification.attempts_left, code_length)
    if verification.outcome is VerifyOutcome.INVALID_PHONE:  # the step lost its phone
        await state.set_state(Joining.phone)
        await message.answer(text, reply_markup=keyboards.contact_request())
        return
    markup = keyboards.new_code() if verification.outcome in DEAD_CODE else None
    await message.answer(text, reply_markup=markup)


async def welcome(
    message: Message,
    bot: Bot,
    service: ReferralService,
    verification: Verification,
    invite_code: str | None,
    *,
    keyboard_shown: bool,
) -> None:
    """One message: the greeting, the outcome of the link's code for a new member, the menu
    (and before it the contact keyboard's removal, if it is still there); then, for a member
    who came back through somebody's link, the question whether to join with it."""
    member = verification.member
    assert member is not None
    greeting = _("welcome-new") if verification.created else _("welcome-back")
    if keyboard_shown:
        await message.answer(greeting, reply_markup=ReplyKeyboardRemove())
    parts = [] if keyboard_shown else [greeting]
    activation = None
    if invite_code and verification.created:
        activation = await service.invitations.activate_invite(member.id, invite_code)
        parts.append(describe(activation, service.phones))
    parts.append(_("menu"))
    await send_menu(bot, message.chat.id, member, "\n\n".join(parts))
    if invite_code and not verification.created:
        await offer_invite(message, service, member, invite_code)
    if activation is not None:  # last: a slow or failing notice delays nothing the member sees
        await notify_inviter(bot, service, activation, member)


async def send_new_code(
    callback: CallbackQuery, state: FSMContext, bot: Bot, service: ReferralService
) -> None:
    """The "Send a new code" button; during the cooldown it only says when a code is available."""
    data = await state.get_data()
    request = await service.members.request_code(data.get("phone", ""))
    if request.outcome is not CodeRequestOutcome.SENT:
        await callback.answer(texts.new_code_refused(request))
        return
    await callback.answer()
    await bot.send_message(
        callback.from_user.id, texts.code_sent(request, service.members.code_length)
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(start, CommandStart(), flags=MEMBER_OPTIONAL)
    router.message.register(accept_contact, shared_contact)
    router.message.register(check_code, StateFilter(Joining.code), typed_text)
    router.callback_query.register(
        send_new_code, StateFilter(Joining.code), NewCodeRequest.filter()
    )
    return router
