"""Every text the bot shows, in one place: a translation is another module with the same names.

Texts are HTML (the bot's default parse mode); values that come from users are escaped here.
"""

from collections.abc import Sequence
from datetime import datetime
from html import escape

from db.codes import INVITE_CODE_SHAPE
from db.results import (
    CodeRequest,
    CodeRequestOutcome,
    InviteOutcome,
    Referral,
    VerifyOutcome,
)

# The command menu (setMyCommands), in the order it is shown.
COMMANDS = {
    "start": "Start, or log in again",
    "code": "My invite code and link",
    "refs": "People who joined with my code",
    "invite": "Enter the invite code I was given",
    "me": "My profile",
    "help": "What this bot does",
    "cancel": "Leave the current step",
    "logout": "Unlink this Telegram account",
}

# Buttons
SHARE_CONTACT_BUTTON = "📱 Share my phone number"
CONTACT_PLACEHOLDER = "Use the button below"
NEW_CODE_BUTTON = "Send a new code"
MY_CODE_BUTTON = "My code"
MY_REFERRALS_BUTTON = "My referrals"
ENTER_CODE_BUTTON = "Enter an invite code"
SHARE_BUTTON = "Share"
OPEN_APP_BUTTON = "Open app"  # the web app as a Mini App: /code's button and the menu button
PREVIOUS_BUTTON = "« Previous"
NEXT_BUTTON = "Next »"
YES_BUTTON = "Yes"
NO_BUTTON = "No"

# Joining
GREETING = (
    "Hi! This is a referral club: invite friends with your personal code and see who joined.\n"
    "To begin, share your phone number with the button below."
)
MALFORMED_LINK = "The link you opened carries no valid invite code, so we start without one."
USE_THE_BUTTON = (
    "Please share your number with the button below instead of typing it: "
    "that proves the number is yours."
)
FOREIGN_CONTACT = (
    "That is somebody else's contact. Please share your own number with the button below."
)
WELCOME_NEW = "Your number is confirmed. Welcome, you are now a member!"
WELCOME_BACK = "Your number is confirmed. Welcome back!"
MENU = "What would you like to do?"
MEMBER_START = "Welcome back! What would you like to do?"
BUTTON_EXPIRED = "This button is no longer active."


def invite_remembered(invite_code: str) -> str:
    return (
        f"You came with the invite code <code>{escape(invite_code)}</code>: "
        "it is applied once your number is confirmed."
    )


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def code_sent(request: CodeRequest, code_length: int) -> str:
    lines = [
        f"We sent a {code_length}-digit code to {request.phone}. "
        f"It is valid for {_duration(request.expires_in)}. Type it here."
    ]
    if request.code is not None:
        lines.append(f"Your code: <code>{request.code}</code> (SMS sending is simulated)")
    return "\n".join(lines)


def new_code_available_in(seconds: int) -> str:
    return f"A new code is available in {seconds} s."


def code_not_sent(request: CodeRequest) -> str:
    """Why no code was sent this time (any outcome but SENT)."""
    if request.outcome is CodeRequestOutcome.COOLDOWN:
        return "A code was sent a moment ago: type it here. " + new_code_available_in(
            request.retry_after
        )
    if request.outcome is CodeRequestOutcome.HOURLY_LIMIT:
        return f"Too many codes for this number. Try again in {request.retry_after} s."
    if request.outcome is CodeRequestOutcome.INVALID_PHONE:
        return "This number cannot receive codes. Please share another one."
    return "We could not send the code right now. Please try again in a minute."


def new_code_refused(request: CodeRequest) -> str:
    """The answer to "Send a new code" when no code was sent."""
    if request.outcome is CodeRequestOutcome.COOLDOWN:
        return new_code_available_in(request.retry_after)
    return code_not_sent(request)


def code_rejected(outcome: VerifyOutcome, attempts_left: int, code_length: int) -> str:
    """Why a typed code did not verify (any outcome but VERIFIED)."""
    return {
        VerifyOutcome.WRONG_CODE: f"Wrong code. Attempts left: {attempts_left}.",
        VerifyOutcome.MALFORMED_CODE: f"The code is {code_length} digits. Type it here.",
        VerifyOutcome.EXPIRED: "This code has expired. Ask for a new one:",
        VerifyOutcome.TOO_MANY_ATTEMPTS: "Too many wrong attempts: this code no longer works. "
        "Ask for a new one:",
        VerifyOutcome.NO_CODE: "There is no active code for your number. Ask for a new one:",
        VerifyOutcome.INVALID_PHONE: "Please share your phone number again with the button below.",
    }[outcome]


# Member commands
SHARE_PHONE_FIRST = "This is for members. Share your phone number first: /start"
ASK_INVITE_CODE = f"Send me the invite code you were given ({INVITE_CODE_SHAPE})."
JOIN_DECLINED = "OK, you did not join with that code. You can still use /invite later."
ALREADY_HAS_INVITER = "You already joined with an invite code; it cannot be changed (see /me)."
OWN_LINK = "This is your own link: share it with your friends (/code)."
NO_REFERRALS = "Nobody has joined with your code yet. Share it: /code"
NOTHING_TO_CANCEL = "There is nothing to cancel."
CANCELLED = "Cancelled."
LOGGED_OUT = "This Telegram account is unlinked from your number. Send /start to link it again."
NOT_LOGGED_IN = "This Telegram account is not linked to any number."
HELP = (
    "This bot runs a referral club. Share your phone number to become a member; "
    "you then get a personal invite code and a link for your friends.\n\n"
    "/code: my invite code, link and a Share button\n"
    "/refs: people who joined with my code\n"
    "/invite CODE: join with the code of the person who invited me (once)\n"
    "/me: my profile\n"
    "/cancel: leave the current step\n"
    "/logout: unlink this Telegram account\n\n"
    f"An invite code is {INVITE_CODE_SHAPE}."
)


def code_card(invite_code: str, link: str) -> str:
    return (
        f"Your invite code: <code>{invite_code}</code>\n"
        f"Your link: {link}\n"
        "Friends who open the link join with your code."
    )


def share_text(invite_code: str) -> str:
    return f"Join me in the referral club with my invite code {invite_code}"


def confirm_join(inviter_phone: str) -> str:
    return f"Join with the code of {inviter_phone}?"


def activation(outcome: InviteOutcome, code: str, inviter_phone: str | None) -> str:
    """The answer to an attempt to activate an invite code, one message per outcome."""
    return {
        InviteOutcome.ACTIVATED: f"Done! You joined with the code of {inviter_phone}.",
        InviteOutcome.EMPTY: "No code given. Send /invite CODE, or /invite and then the code.",
        InviteOutcome.OWN_CODE: "That is your own code. Enter the code of the person who "
        "invited you.",
        InviteOutcome.UNKNOWN: f"No member has the code <code>{escape(code)}</code>. "
        f"An invite code is {INVITE_CODE_SHAPE}.",
        InviteOutcome.ALREADY_ACTIVATED: f"You already joined with the code "
        f"<code>{escape(code)}</code>; it cannot be changed.",
        InviteOutcome.CYCLE: "You cannot use this code: its owner joined through you.",
        InviteOutcome.MEMBER_NOT_FOUND: SHARE_PHONE_FIRST,
    }[outcome]


def new_referral(referral_phone: str) -> str:
    return f"🎉 {referral_phone} joined with your invite code!"


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def referrals(items: Sequence[Referral], total: int, page_number: int, page_size: int) -> str:
    if not items:
        return NO_REFERRALS
    pages = -(-total // page_size)
    first = (page_number - 1) * page_size + 1
    lines = [f"People who joined with your code: {total} (page {page_number} of {pages})", ""]
    lines += [
        f"{number}. {item.phone}, {_day(item.invited_at)}"
        for number, item in enumerate(items, start=first)
    ]
    return "\n".join(lines)


def profile(phone: str, invite_code: str, inviter_code: str | None, referral_count: int) -> str:
    joined_with = f"<code>{inviter_code}</code>" if inviter_code else "none yet (/invite)"
    return (
        f"Phone: {phone}\n"
        f"Your invite code: <code>{invite_code}</code>\n"
        f"Joined with the code: {joined_with}\n"
        f"People who joined with your code: {referral_count}"
    )


# Everything else
NOT_UNDERSTOOD = "I did not understand that. Send /help to see what I can do."
FLOOD = "Too many messages at once. Please wait a few seconds."
APOLOGY = "Sorry, something went wrong on our side. Please try again in a moment."


def private_only(bot_username: str) -> str:
    return f"I work in private chats only. Write to me directly: @{bot_username}"
