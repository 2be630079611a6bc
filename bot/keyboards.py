"""Reply and inline keyboards, built with aiogram's keyboard builders.

A builder deep-copies its buttons, which costs more than the rest of a /code update's own work, so
the keyboards that do not change are built once and the per-member ones are cached for a while.
"""

from functools import cache, lru_cache

from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder, ReplyKeyboardBuilder

from bot import texts
from bot.callbacks import JoinAnswer, MenuChoice, MenuItem, NewCodeRequest, ReferralsPageTurn
from db.results import ReferralPage


@cache
def contact_request() -> ReplyKeyboardMarkup:
    """One button that shares the person's own contact."""
    builder = ReplyKeyboardBuilder()
    builder.button(text=texts.SHARE_CONTACT_BUTTON, request_contact=True)
    return builder.as_markup(
        resize_keyboard=True,
        one_time_keyboard=True,
        input_field_placeholder=texts.CONTACT_PLACEHOLDER,
    )


@cache
def new_code() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.NEW_CODE_BUTTON, callback_data=NewCodeRequest())
    return builder.as_markup()


@lru_cache(maxsize=1024)
def main_menu(share_url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.MY_CODE_BUTTON, callback_data=MenuChoice(item=MenuItem.CODE))
    builder.button(
        text=texts.MY_REFERRALS_BUTTON, callback_data=MenuChoice(item=MenuItem.REFERRALS)
    )
    builder.button(text=texts.ENTER_CODE_BUTTON, callback_data=MenuChoice(item=MenuItem.INVITE))
    builder.button(text=texts.SHARE_BUTTON, url=share_url)
    builder.adjust(2)
    return builder.as_markup()


@lru_cache(maxsize=1024)
def share(share_url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.SHARE_BUTTON, url=share_url)
    return builder.as_markup()


def join_question(invite_code: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.YES_BUTTON, callback_data=JoinAnswer(code=invite_code, accept=True))
    builder.button(text=texts.NO_BUTTON, callback_data=JoinAnswer(code=invite_code, accept=False))
    return builder.as_markup()


def referral_pages(page: ReferralPage, number: int) -> InlineKeyboardMarkup | None:
    """Previous/Next under a page of referrals; None when everything fits on one page."""
    if page.previous_cursor is None and page.next_cursor is None:
        return None
    builder = InlineKeyboardBuilder()
    if page.previous_cursor is not None:
        turn = ReferralsPageTurn(number=max(1, number - 1), before=page.previous_cursor)
        builder.button(text=texts.PREVIOUS_BUTTON, callback_data=turn)
    if page.next_cursor is not None:
        turn = ReferralsPageTurn(number=number + 1, after=page.next_cursor)
        builder.button(text=texts.NEXT_BUTTON, callback_data=turn)
    return builder.as_markup()
