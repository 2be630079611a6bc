"""Callback data of the inline buttons; each packs into Telegram's 64 bytes."""

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class MenuItem(StrEnum):
    CODE = "code"
    REFERRALS = "refs"
    INVITE = "invite"


class MenuChoice(CallbackData, prefix="menu"):
    """`menu:code`, `menu:refs`, `menu:invite`."""

    item: MenuItem


class ReferralsPageTurn(CallbackData, prefix="refs"):
    """`refs:<page number>:<after cursor>:<before cursor>`, one cursor empty."""

    number: int
    after: str | None = None
    before: str | None = None


class QrRequest(CallbackData, prefix="qr"):
    """`qr`: send the QR code of the member's deep link."""


class JoinAnswer(CallbackData, prefix="join"):
    """`join:<invite code>:1` for Yes, `join:<invite code>:0` for No."""

    code: str
    accept: bool


class NewCodeRequest(CallbackData, prefix="newcode"):
    """`newcode`: send a new verification code to the phone being verified."""


class LanguageChoice(CallbackData, prefix="lang"):
    """`lang:ru`: speak this language from now on."""

    language: str


class ErasureAnswer(CallbackData, prefix="erase"):
    """`erase:1` erases the member's data, `erase:0` keeps it."""

    confirm: bool


class MemberAction(StrEnum):
    BLOCK = "block"  # ask for a reason
    BLOCK_NOW = "blocknow"  # block without one
    UNBLOCK = "unblock"
    CANCEL = "cancel"


class MemberChoice(CallbackData, prefix="op"):
    """`op:block:<member id>` and the like: an operator's button under a member card."""

    action: MemberAction
    member: int


class BroadcastAction(StrEnum):
    SEND = "send"  # under the preview
    DISCARD = "discard"
    STOP = "stop"  # under the progress message


class BroadcastChoice(CallbackData, prefix="bc"):
    """`bc:send:0` under a broadcast's preview, `bc:stop:<broadcast id>` under its progress."""

    action: BroadcastAction
    broadcast: int = 0
