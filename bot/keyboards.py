"""Reply and inline keyboards.

Built as markup objects directly rather than with aiogram's keyboard builders: a builder
deep-copies its buttons, which cost 50 µs of a /code update against 15 µs this way. Telegram
objects are frozen, so the buttons that never change are made once and shared.
"""

from functools import cache

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    WebAppInfo,
)

from bot import texts
from bot.callbacks import JoinAnswer, MenuChoice, MenuItem, NewCodeRequest, ReferralsPageTurn
from db.results import ReferralPage


@cache
def contact_request() -> ReplyKeyboardMarkup:
    """One button that shares the person's own contact."""
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=texts.SHARE_CONTACT_BUTTON, request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
        input_field_placeholder=texts.CONTACT_PLACEHOLDER,
    )


@cache
def new_code() -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text=texts.NEW_CODE_BUTTON, callback_data=NewCodeRequest().pack())
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


@cache
def _menu_choices() -> tuple[InlineKeyboardButton, InlineKeyboardButton, InlineKeyboardButton]:
    """My code, My referrals, Enter an invite code: the same for every member."""
    return (
        InlineKeyboardButton(
            text=texts.MY_CODE_BUTTON, callback_data=MenuChoice(item=MenuItem.CODE).pack()
        ),
        InlineKeyboardButton(
            text=texts.MY_REFERRALS_BUTTON, callback_data=MenuChoice(item=MenuItem.REFERRALS).pack()
        ),
        InlineKeyboardButton(
            text=texts.ENTER_CODE_BUTTON, callback_data=MenuChoice(item=MenuItem.INVITE).pack()
        ),
    )


def _share_button(share_url: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.SHARE_BUTTON, url=share_url)


def main_menu(share_url: str) -> InlineKeyboardMarkup:
    """Two by two: My code, My referrals / Enter an invite code, Share."""
    code, referrals, invite = _menu_choices()
    return InlineKeyboardMarkup(
        inline_keyboard=[[code, referrals], [invite, _share_button(share_url)]]
    )


def share(share_url: str, web_app_url: str | None = None) -> InlineKeyboardMarkup:
    """Share, and "Open app" (the web app as a Mini App) when there is one."""
    rows = [[_share_button(share_url)]]
    if web_app_url:
        open_app = InlineKeyboardButton(
            text=texts.OPEN_APP_BUTTON, web_app=WebAppInfo(url=web_app_url)
        )
        rows.append([open_app])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def join_question(invite_code: str) -> InlineKeyboardMarkup:
    yes = JoinAnswer(code=invite_code, accept=True).pack()
    no = JoinAnswer(code=invite_code, accept=False).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=texts.YES_BUTTON, callback_data=yes),
                InlineKeyboardButton(text=texts.NO_BUTTON, callback_data=no),
            ]
        ]
    )


def referral_pages(page: ReferralPage, number: int) -> InlineKeyboardMarkup | None:
    """Previous/Next under a page of referrals; None when everything fits on one page."""
    if page.previous_cursor is None and page.next_cursor is None:
        return None
    buttons = []
    if page.previous_cursor is not None:
        turn = ReferralsPageTurn(number=max(1, number - 1), before=page.previous_cursor)
        buttons.append(InlineKeyboardButton(text=texts.PREVIOUS_BUTTON, callback_data=turn.pack()))
    if page.next_cursor is not None:
        turn = ReferralsPageTurn(number=number + 1, after=page.next_cursor)
        buttons.append(InlineKeyboardButton(text=texts.NEXT_BUTTON, callback_data=turn.pack()))
    return InlineKeyboardMarkup(inline_keyboard=[buttons])
