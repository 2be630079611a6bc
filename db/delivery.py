"""How a verification code reaches the person: shown in the chat, written to the log, or sent
through the Telegram Gateway API."""

import asyncio
import logging
from typing import Any, Protocol

import aiohttp

from db.phones import mask_phone

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The code could not be delivered; the caller may ask again later."""


class CodeDelivery(Protocol):
    shows_code: bool  # the caller itself shows the code (development and demo mode)

    async def deliver(self, phone: str, code: str, ttl: int) -> None: ...

    async def close(self) -> None: ...


class ChatDelivery:
    """Simulates an SMS gateway as the original system did: the caller shows the code."""

    shows_code = True

    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay

    async def deliver(self, phone: str, code: str, ttl: int) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)  # a gateway's latency, without blocking anyone else

    async def close(self) -> None:
        pass


class LogDelivery:
    """Writes the code to the server log: for development, never for production."""

    shows_code = False

    async def deliver(self, phone: str, code: str, ttl: int) -> None:
        log.warning("verification code for %s: %s (valid %d s)", mask_phone(phone), code, ttl)

    async def close(self) -> None:
        pass


class TelegramGatewayDelivery:
    """Telegram Gateway API: `sendVerificationMessage` with our own code and its lifetime."""

    shows_code = False

    def __init__(self, token: str, base_url: str, timeout: float = 10.0) -> None:
        self.url = base_url.rstrip("/") + "/sendVerificationMessage"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def deliver(self, phone: str, code: str, ttl: int) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout, headers=self.headers)
        payload = {"phone_number": phone, "code": code, "ttl": ttl}
        try:
            async with self._session.post(self.url, json=payload) as response:
                body: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise DeliveryError(f"Telegram Gateway unreachable: {error!r}") from error
        if not body.get("ok"):
            raise DeliveryError(f"Telegram Gateway refused: {body.get('error', 'no reason')}")
        log.info("verification code sent through Telegram Gateway to %s", mask_phone(phone))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def create_delivery(
    mode: str, *, chat_delay: float = 1.0, gateway_token: str = "", gateway_url: str = ""
) -> CodeDelivery:
    """The delivery named by the `CODE_DELIVERY` setting."""
    if mode == "chat":
        return ChatDelivery(chat_delay)
    if mode == "log":
        return LogDelivery()
    return TelegramGatewayDelivery(gateway_token, gateway_url)
