"""POST /api/telegram/login/: the web app inside Telegram (a Mini App) logs in with the initData
Telegram signed with the bot's token; the member is the one the Telegram account is linked to.

Unlike phone login, this is not counted against the per-address limit: a signature cannot be
guessed, nothing is sent to anyone, and a Mini App logs in each time it is opened, often from
behind a carrier's shared address.
"""

import json
import time
from urllib.parse import parse_qsl

from aiogram.utils.web_app import check_webapp_signature
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.messages import english, say
from api.models import AccessGranted, TelegramLoginRequest
from api.openapi import COMMON_ERRORS, documented_error
from api.replies import answer, refusal
from api.routing import slash_optional
from api.state import app_state

router = APIRouter(prefix="/api/telegram", tags=["login"])

MAX_AGE = 86400  # seconds: initData signed longer ago than a day is not accepted

# Messages, by their catalog id (locales/).
BAD_SIGNATURE = "api-telegram-bad-signature"
NO_USER = "api-telegram-no-user"
TOO_OLD = "api-telegram-too-old"
NOT_LINKED = "api-telegram-not-linked"
TELEGRAM_OFF = "api-telegram-off"


class InitDataRefused(Exception):
    """initData that does not prove a Telegram user; `message_id` (a catalog id) says why."""

    def __init__(self, message_id: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id


def telegram_user_id(bot_token: str, init_data: str, *, now: float) -> int:
    """The id of the Telegram user `init_data` was signed for; raises InitDataRefused.

    aiogram checks the signature; the age of `auth_date` is ours to check. Only the two fields
    used are read (aiogram's `safe_parse_webapp_init_data` builds a model of every field, which
    took half of this function's time)."""
    if not check_webapp_signature(bot_token, init_data):
        raise InitDataRefused(BAD_SIGNATURE)
    fields = dict(parse_qsl(init_data))
    try:
        signed_at = int(fields["auth_date"])
    except (KeyError, ValueError):
        raise InitDataRefused(BAD_SIGNATURE) from None
    try:
        user = json.loads(fields["user"])
        telegram_id = user["id"]
    except (KeyError, TypeError, ValueError):
        raise InitDataRefused(NO_USER) from None
    if not isinstance(telegram_id, int) or isinstance(telegram_id, bool):
        raise InitDataRefused(NO_USER)
    if now - signed_at > MAX_AGE:
        raise InitDataRefused(TOO_OLD)
    return telegram_id


@slash_optional(
    router,
    "/login",
    method="POST",
    operation_id="telegramLogin",
    summary="Log in inside Telegram (a Mini App) with its signed initData",
    response_model=AccessGranted,
    response_description="The Telegram account is a member's: an access token.",
    responses={
        401: documented_error(
            "The initData is not signed for this bot, names no user, or is older than a day.",
            bad_signature=english(BAD_SIGNATURE),
            no_user=english(NO_USER),
            too_old=english(TOO_OLD),
        ),
        403: documented_error(
            "The Telegram account is not linked to a member: they share their phone with the "
            "bot first.",
            not_linked=english(NOT_LINKED),
        ),
        503: documented_error(
            "The server runs without a bot token.", telegram_off=english(TELEGRAM_OFF)
        ),
        **COMMON_ERRORS,
    },
)
async def telegram_login(body: TelegramLoginRequest, request: Request) -> Response:
    """Checks Telegram's signature (HMAC with the bot's token) and the age of `auth_date`."""
    # Read from the application's state rather than as dependencies: each costs ~25 µs.
    state = app_state(request)
    service, tokens, bot_token = state.service, state.tokens, state.bot_token
    if bot_token is None:
        return refusal(503, say(TELEGRAM_OFF))
    try:
        telegram_id = telegram_user_id(bot_token, body.init_data, now=time.time())
    except InitDataRefused as refused:
        return refusal(401, say(refused.message_id))
    member = await service.members.member_by_telegram_batched(telegram_id)
    if member is None:
        return refusal(403, say(NOT_LINKED))
    token = tokens.issue(member.id)
    granted = AccessGranted(message=say("api-logged-in"), token=token, expires_in=tokens.ttl)
    return answer(200, granted)
