"""How a verification code reaches the person: shown in the chat, written to the log, or sent
through the Telegram Gateway API (delivery/gateway.py). The referral service (db/members.py)
issues the code and hands it to one of these."""

import asyncio
import logging
from typing import Protocol

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The code could not be delivered; the caller may ask again later."""


class CodeDelivery(Protocol):
    shows_code: bool  # the caller itself shows the code (development and demo mode)

    async def deliver(self, phone: str, code: str, ttl: int, *, shown_phone: str) -> None:
        """Send `code` to `phone`; `shown_phone` is the phone as a log line may show it."""

    async def close(self) -> None: ...


class ChatDelivery:
    """Simulates an SMS gateway as the original system did: the caller shows the code."""

    shows_code = True

    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay

    async def deliver(self, phone: str, code: str, ttl: int, *, shown_phone: str) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)  # a gateway's latency, without blocking anyone else

    async def close(self) -> None:
        pass


class LogDelivery:
    """Writes the code to the server log: for development, never for production."""

    shows_code = False

    async def deliver(self, phone: str, code: str, ttl: int, *, shown_phone: str) -> None:
        log.warning("verification code for %s: %s (valid %d s)", shown_phone, code, ttl)

    async def close(self) -> None:
        pass


def create_delivery(
    mode: str, *, chat_delay: float = 1.0, gateway_token: str = "", gateway_url: str = ""
) -> CodeDelivery:
    """The delivery named by the `CODE_DELIVERY` setting."""
    if mode == "chat":
        return ChatDelivery(chat_delay)
    if mode == "log":
        return LogDelivery()
    from delivery.gateway import TelegramGatewayDelivery  # it imports DeliveryError from here

    return TelegramGatewayDelivery(gateway_token, gateway_url)
