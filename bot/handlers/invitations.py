"""Invite codes: `/invite CODE`, `/invite` then the code, and Yes/No after a deep link."""

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards, texts
from bot.callbacks import JoinAnswer, MenuChoice, MenuItem
from bot.filters import typed_text
from bot.handlers.replies import edit_pressed_message
from bot.middlewares import MEMBER_REQUIRED
from bot.notifications import notify_inviter
from bot.states import Invitation
from bot.texts import _
from db.phones import PhoneDisplay
from db.results import Activation, InviteOutcome, Member
from db.service import ReferralService


def describe(activation: Activation, phones: PhoneDisplay) -> str:
    """The member's answer for any outcome; the inviter's phone is always shown masked."""
    inviter_phone = phones.masked(activation.inviter.phone) if activation.inviter else None
    return texts.activation(activation.outcome, activation.code, inviter_phone)


async def join(message: Message, service: ReferralService, member: Member, code: str) -> Activation:
    """Activate an invite code and answer with the outcome; the caller then notifies the inviter."""
    activation = await service.invitations.activate_invite(member.id, code)
    await message.answer(describe(activation, service.phones))
    return activation


async def offer_invite(
    message: Message, service: ReferralService, member: Member, code: str
) -> None:
    """Ask a member who came through somebody's link whether to join with that code, if the
    service says it would activate; else say why not (a link's own words for two refusals)."""
    offer = await service.invitations.invitation_offer(member.id, code)
    if offer.outcome is InviteOutcome.ALREADY_ACTIVATED:
        await message.answer(_("already-has-inviter"))
    elif offer.outcome is InviteOutcome.OWN_CODE:
        await message.answer(_("own-link"))
    elif offer.owner is None:
        await message.answer(texts.activation(offer.outcome, offer.code, None))
    else:
        question = _("confirm-join", phone=service.phones.masked(offer.owner.phone))
        await message.answer(question, reply_markup=keyboards.join_question(offer.code))


async def invite(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    bot: Bot,
    service: ReferralService,
    member: Member,
) -> None:
    """`/invite CODE` activates; `/invite` alone waits for the code in the next message."""
    if command.args:
        activation = await join(message, service, member, command.args)
        await notify_inviter(bot, service, activation, member)
    elif member.inviter_id is not None:
        await message.answer(_("already-has-inviter"))
    else:
        await state.set_state(Invitation.code)
        await message.answer(texts.ask_invite_code())


async def invite_from_menu(callback: CallbackQuery, state: FSMContext, member: Member) -> None:
    await callback.answer()
    if callback.message is None:
        return
    if member.inviter_id is not None:
        await callback.message.answer(_("already-has-inviter"))
        return
    await state.set_state(Invitation.code)
    await callback.message.answer(texts.ask_invite_code())


async def invite_code_typed(
    message: Message,
    text: str,
    state: FSMContext,
    bot: Bot,
    service: ReferralService,
    member: Member,
) -> None:
    await state.clear()
    activation = await join(message, service, member, text)
    await notify_inviter(bot, service, activation, member)


async def answer_join_question(
    callback: CallbackQuery,
    callback_data: JoinAnswer,
    bot: Bot,
    service: ReferralService,
    member: Member,
) -> None:
    """Yes activates the link's code (a stale Yes gets the service's refusal); No only answers."""
    await callback.answer()
    if not callback_data.accept:
        await edit_pressed_message(callback, _("join-declined"))
        return
    activation = await service.invitations.activate_invite(member.id, callback_data.code)
    await edit_pressed_message(callback, describe(activation, service.phones))
    await notify_inviter(bot, service, activation, member)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(invite, Command("invite"), flags=MEMBER_REQUIRED)
    router.message.register(
        invite_code_typed,
        StateFilter(Invitation.code),
        typed_text,
        flags=MEMBER_REQUIRED,
    )
    router.callback_query.register(
        invite_from_menu, MenuChoice.filter(F.item == MenuItem.INVITE), flags=MEMBER_REQUIRED
    )
    router.callback_query.register(answer_join_question, JoinAnswer.filter(), flags=MEMBER_REQUIRED)
    return router
