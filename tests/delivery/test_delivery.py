"""Code delivery: the Telegram Gateway client against a local fake of its HTTP API."""

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from db.results import CodeRequestOutcome
from db.service import ReferralService
from delivery import DeliveryError, LogDelivery
from delivery.gateway import TelegramGatewayDelivery
from tests.conftest import new_phone

TOKEN = "gateway-token"


class FakeGateway:
    """`sendVerificationMessage` as the Telegram Gateway API answers it."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.refuse_with: str | None = None

    async def send_verification_message(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"ok": False, "error": "ACCESS_TOKEN_INVALID"})
        body = await request.json()
        self.requests.append(body)
        if self.refuse_with:
            return web.json_response({"ok": False, "error": self.refuse_with})
        status = {
            "request_id": f"req{len(self.requests)}",
            "phone_number": body["phone_number"].lstrip("+"),
            "request_cost": 0.01,
            "delivery_status": {"status": "sent", "updated_at": 1700000000},
        }
        return web.json_response({"ok": True, "result": status})


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FakeGateway, str]]:
    fake = FakeGateway()
    app = web.Application()
    app.router.add_post("/sendVerificationMessage", fake.send_verification_message)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_gateway_receives_our_code_with_its_ttl(
    service: ReferralService, gateway: tuple[FakeGateway, str]
) -> None:
    fake, url = gateway
    service.members.delivery = delivery = TelegramGatewayDelivery(TOKEN, url)
    phone = new_phone()
    request = await service.members.request_code(phone)
    await delivery.close()
    assert request.outcome is CodeRequestOutcome.SENT
    assert request.code is None  # never shown to the caller outside `chat` mode
    [sent] = fake.requests
    assert sent["phone_number"] == phone and sent["ttl"] == service.members.code_ttl
    assert len(sent["code"]) == service.members.code_length
    assert (await service.members.verify_code(phone, sent["code"])).member is not None


async def test_gateway_refusal_is_a_delivery_failure(
    service: ReferralService, gateway: tuple[FakeGateway, str]
) -> None:
    fake, url = gateway
    fake.refuse_with = "PHONE_NUMBER_INVALID"
    service.members.delivery = delivery = TelegramGatewayDelivery(TOKEN, url)
    request = await service.members.request_code(new_phone())
    await delivery.close()
    assert request.outcome is CodeRequestOutcome.DELIVERY_FAILED


async def test_wrong_token_and_unreachable_gateway_raise(
    gateway: tuple[FakeGateway, str],
) -> None:
    _, url = gateway
    for delivery in (
        TelegramGatewayDelivery("wrong", url),
        TelegramGatewayDelivery(TOKEN, "http://127.0.0.1:9", timeout=2),
    ):
        with pytest.raises(DeliveryError):
            await delivery.deliver("+79123456789", "1234", 300, shown_phone="+7 912 ***-**-89")
        await delivery.close()


async def test_log_delivery_writes_the_code_only_to_the_log(
    service: ReferralService, caplog: pytest.LogCaptureFixture
) -> None:
    service.members.delivery = LogDelivery()
    with caplog.at_level(logging.INFO):
        request = await service.members.request_code(new_phone())
    assert request.code is None
    assert any("verification code for" in record.getMessage() for record in caplog.records)


async def test_gateway_send_is_logged_with_the_phone_masked(
    service: ReferralService, gateway: tuple[FakeGateway, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, url = gateway
    service.members.delivery = delivery = TelegramGatewayDelivery(TOKEN, url)
    phone = new_phone()
    with caplog.at_level(logging.DEBUG):
        await service.members.request_code(phone)
    await delivery.close()
    assert any("Telegram Gateway" in record.getMessage() for record in caplog.records)
    assert not any(phone[1:] in record.getMessage() for record in caplog.records)


async def test_a_failed_delivery_is_not_a_send(
    service: ReferralService, gateway: tuple[FakeGateway, str]
) -> None:
    """No cooldown and no hourly quota spent for a code that never came; an earlier code that
    did come still works."""
    fake, url = gateway
    service.members.delivery = delivery = TelegramGatewayDelivery(TOKEN, url)
    try:
        phone = new_phone()
        assert (await service.members.request_code(phone)).outcome is CodeRequestOutcome.SENT
        delivered = fake.requests[-1]["code"]
        service.members.resend_cooldown = 0
        fake.refuse_with = "FLOOD_WAIT"
        for _ in range(service.members.hourly_limit + 2):
            refused = await service.members.request_code(phone)
            assert refused.outcome is CodeRequestOutcome.DELIVERY_FAILED
        fake.refuse_with = None
        assert (await service.members.verify_code(phone, delivered)).member is not None
        for _ in range(service.members.hourly_limit - 1):
            assert (await service.members.request_code(phone)).outcome is CodeRequestOutcome.SENT
        over = await service.members.request_code(phone)
    finally:
        await delivery.close()
    assert over.outcome is CodeRequestOutcome.HOURLY_LIMIT
