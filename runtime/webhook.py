"""The Telegram webhook as a route of the program's one HTTP application."""

import hmac
import logging

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from bot.state_storage import Claim, UpdateLedger

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def create_webhook_router(
    *, dispatcher: Dispatcher, bot: Bot, path: str, secret: str, ledger: UpdateLedger
) -> APIRouter:
    """A POST route at `path` that handles each update once and answers when it is handled.

    A failed update answers 500, so Telegram delivers it again; a repeated delivery of an update
    that was handled answers 200 and is not handled again; one that comes while the update is
    still being handled (here or by another instance, which may yet fail or die) answers 503, so
    that Telegram delivers it again later.
    """
    router = APIRouter()
    expected = secret.encode()

    @router.post(path, include_in_schema=False)
    async def telegram_webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"message": "Wrong or missing secret token."}, status_code=401)
        try:
            update = Update.model_validate_json(await request.body(), context={"bot": bot})
        except ValidationError:
            return JSONResponse({"message": "The body is not a Telegram update."}, 400)
        claim = await ledger.claim(update.update_id)
        if claim is Claim.HANDLED:
            return Response(status_code=200)
        if claim is Claim.IN_PROGRESS:
            return JSONResponse({"message": "The update is being handled."}, status_code=503)
        try:
            await dispatcher.feed_update(bot, update)
        except Exception:
            await ledger.release(update.update_id)
            log.exception("update %d failed; Telegram will deliver it again", update.update_id)
            return JSONResponse({"message": "The update failed."}, status_code=500)
        await ledger.mark_handled(update.update_id)
        return Response(status_code=200)

    return router
