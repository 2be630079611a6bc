"""The Telegram Gateway API's client: a verification code sent as a Telegram message to the
phone's account (`CODE_DELIVERY=telegram_gateway`)."""

import logging
from typing import Any

import aiohttp

from delivery import DeliveryError

log = logging.getLogger(__name__)


class TelegramGatewayDelivery:
    """Telegram Gateway API: `sendVerificationMessage` with our own code and its lifetime."""

    shows_code = False

    def __init__(self, token: str, base_url: str, timeout: float = 10.0) -> None:
        self.url = base_url.rstrip("/") + "/sendVerificationMessage"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def deliver(self, phone: str, code: str, ttl: int, *, shown_phone: str) -> None:
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
        log.info("verification code sent through Telegram Gateway to %s", shown_phone)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
