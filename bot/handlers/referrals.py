"""A member's own referral data: `/code`, `/refs` with its pages, `/me`, and the menu buttons."""

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import keyboards, texts
from bot.callbacks import MenuChoice, MenuItem, ReferralsPageTurn
from bot.deep_links import member_link
from bot.handlers.replies import edit_pressed_message
from bot.middlewares import MEMBER_REQUIRED
from bot.texts import _
from db.results import Member, ReferralPage
from db.service import ReferralService
from settings import Settings
from sharing.links import share_url

PAGE_SIZE = 10


async def send_code_card(bot: Bot, chat_id: int, member: Member, settings: Settings) -> None:
    """The member's invite code and deep link, with Copy, Share, Invite in a chat, QR code and,
    with WEB_APP_URL, Open app."""
    link = await member_link(bot, member.invite_code)
    share = share_url(link, texts.share_text(member.invite_code))
    text = texts.code_card(member.invite_code, link)
    markup = keyboards.code_card(member.invite_code, share, settings.web_app_url)
    await bot.send_message(chat_id, text, reply_markup=markup)


async def send_referrals(bot: Bot, chat_id: int, service: ReferralService, member: Member) -> None:
    """The first page of the member's referrals, with the count and Next."""
    page = await service.invitations.referrals_page(member.id, limit=PAGE_SIZE)
    await bot.send_message(
        chat_id, page_text(page, 1), reply_markup=keyboards.referral_pages(page, 1)
    )


def page_text(page: ReferralPage, number: int) -> str:
    return texts.referrals(page.referrals, page.total, number, PAGE_SIZE)


async def show_code(message: Message, bot: Bot, member: Member, settings: Settings) -> None:
    await send_code_card(bot, message.chat.id, member, settings)


async def show_referrals(
    message: Message, bot: Bot, service: ReferralService, member: Member
) -> None:
    await send_referrals(bot, message.chat.id, service, member)


async def show_code_from_menu(
    callback: CallbackQuery, bot: Bot, member: Member, settings: Settings
) -> None:
    await callback.answer()
    await send_code_card(bot, callback.from_user.id, member, settings)


async def show_referrals_from_menu(
    callback: CallbackQuery, bot: Bot, service: ReferralService, member: Member
) -> None:
    await callback.answer()
    await send_referrals(bot, callback.from_user.id, service, member)


async def turn_referrals_page(
    callback: CallbackQuery,
    callback_data: ReferralsPageTurn,
    service: ReferralService,
    member: Member,
) -> None:
    """Show the page a Previous/Next button points to; if the list changed, its first page."""
    try:
        page = await service.invitations.referrals_page(
            member.id, after=callback_data.after, before=callback_data.before, limit=PAGE_SIZE
        )
    except ValueError:  # a cursor the service did not make
        page = None
    if page is None or not page.referrals:
        page = await service.invitations.referrals_page(member.id, limit=PAGE_SIZE)
    number = callback_data.number if page.previous_cursor else 1
    await callback.answer()
    await edit_pressed_message(
        callback, page_text(page, number), keyboards.referral_pages(page, number)
    )


async def show_profile(message: Message, service: ReferralService, member: Member) -> None:
    """`/me`: masked phone, own code, the activated code, how many joined with it, and the next
    milestone."""
    profile = await service.members.profile(member.id)
    if profile is None:
        await message.answer(_("share-phone-first"))
        return
    lines = [
        texts.profile(
            service.phones.masked(member.phone),
            member.invite_code,
            profile.inviter_code,
            profile.referral_count,
        ),
        texts.milestone_progress(service.growth.progress(profile.referral_count)),
    ]
    await message.answer("\n".join(line for line in lines if line))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_code, Command("code"), flags=MEMBER_REQUIRED)
    router.message.register(show_referrals, Command("refs"), flags=MEMBER_REQUIRED)
    router.message.register(show_profile, Command("me"), flags=MEMBER_REQUIRED)
    router.callback_query.register(
        show_code_from_menu, MenuChoice.filter(F.item == MenuItem.CODE), flags=MEMBER_REQUIRED
    )
    router.callback_query.register(
        show_referrals_from_menu,
        MenuChoice.filter(F.item == MenuItem.REFERRALS),
        flags=MEMBER_REQUIRED,
    )
    router.callback_query.register(
        turn_referrals_page, ReferralsPageTurn.filter(), flags=MEMBER_REQUIRED
    )
    return router
