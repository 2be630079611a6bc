"""Sharing and growth: the QR code of a member's link (`/qr` and the button under `/code`), the
invite card of inline mode (`@bot` in any chat), and the leaderboard (`/top`)."""

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
)
from aiogram.utils.i18n import I18n

from bot import keyboards, texts
from bot.callbacks import QrRequest
from bot.deep_links import FROM_INLINE_MODE, member_link
from bot.middlewares import MEMBER_OPTIONAL, MEMBER_REQUIRED
from bot.texts import _
from db.results import Member
from db.service import ReferralService
from sharing.qr import qr_png

log = logging.getLogger(__name__)

# Inline answers are personal (each member's own card) and kept by Telegram this long, so that a
# member typing `@bot` again soon costs us nothing, while a changed code shows within a minute.
INLINE_CACHE_SECONDS = 60


async def send_qr(bot: Bot, chat_id: int, service: ReferralService, member: Member) -> None:
    """The PNG QR code of the member's deep link: uploaded once, then sent by Telegram's file_id
    (kept per member and link, so a changed link is drawn again)."""
    link = await member_link(bot, member.invite_code)
    caption = _("qr-caption", link=link)
    file_id = await service.growth.qr_file(member.id, link)
    if file_id is not None:
        try:
            await bot.send_photo(chat_id, file_id, caption=caption)
            return
        except TelegramBadRequest:  # the file is not this bot's (any more): upload it again
            log.warning("QR code of member %d sent again: its file_id was refused", member.id)
    photo = BufferedInputFile(qr_png(link), filename="qr.png")
    sent = await bot.send_photo(chat_id, photo, caption=caption)
    if sent.photo:
        await service.growth.keep_qr_file(member.id, link, sent.photo[-1].file_id)


async def show_qr(message: Message, bot: Bot, service: ReferralService, member: Member) -> None:
    await send_qr(bot, message.chat.id, service, member)


async def show_qr_from_button(
    callback: CallbackQuery, bot: Bot, service: ReferralService, member: Member
) -> None:
    await callback.answer()
    await send_qr(bot, callback.from_user.id, service, member)


async def show_top(message: Message, service: ReferralService, member: Member) -> None:
    """`/top`: the ten members with most referrals this month and of all time, and your place."""
    boards = await service.growth.leaderboards(member.id)
    await message.answer(texts.leaderboards(boards))


async def offer_invite_card(
    inline_query: InlineQuery, bot: Bot, i18n: I18n, member: Member | None
) -> None:
    """`@bot` in any chat: a member gets their invite card (in their own language); anybody
    else a button that opens the bot. One database lookup (the member), done before."""
    if member is None:
        button = InlineQueryResultsButton(
            text=_("inline-open-bot"), start_parameter=FROM_INLINE_MODE
        )
        await inline_query.answer(
            [], cache_time=INLINE_CACHE_SECONDS, is_personal=True, button=button
        )
        return
    link = await member_link(bot, member.invite_code)
    with i18n.use_locale(member.language or i18n.current_locale):
        card = InlineQueryResultArticle(
            id=f"invite-{member.invite_code}",
            title=_("inline-card-title", code=member.invite_code),
            description=_("inline-card-description"),
            input_message_content=InputTextMessageContent(
                message_text=_("inline-card-text", code=member.invite_code, link=link),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            ),
            reply_markup=keyboards.join_link(link),
        )
    await inline_query.answer([card], cache_time=INLINE_CACHE_SECONDS, is_personal=True)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_qr, Command("qr"), flags=MEMBER_REQUIRED)
    router.message.register(show_top, Command("top"), flags=MEMBER_REQUIRED)
    router.callback_query.register(show_qr_from_button, QrRequest.filter(), flags=MEMBER_REQUIRED)
    router.inline_query.register(offer_invite_card, flags=MEMBER_OPTIONAL)
    return router
