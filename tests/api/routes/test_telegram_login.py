"""POST /api/telegram/login/: the Mini App's login with initData signed by Telegram."""

from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from fastapi import FastAPI

from api import create_app
from api.routes.telegram_login import MAX_AGE
from db.service import ReferralService
from settings import Settings
from tests.api.conftest import api_settings, bearer, http_client
from tests.conftest import join, signed_init_data

BOT_TOKEN = "123456:telegram-login-test-token"
LOGIN = "/api/telegram/login/"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return api_settings(tmp_path, bot_token=BOT_TOKEN)


async def login(client: httpx.AsyncClient, init_data: str) -> httpx.Response:
    return await client.post(LOGIN, json={"init_data": init_data})


async def test_a_linked_account_gets_a_token_of_its_member(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    member = await join(service, telegram_id=4242)
    response = await login(client, signed_init_data(BOT_TOKEN, 4242))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    data = await client.get("/api/data/", headers=bearer(body["token"]))
    assert data.status_code == 200
    assert data.json()["ref"] == member.invite_code


async def test_an_account_linked_to_nobody_is_403(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    await join(service, telegram_id=4242)
    response = await login(client, signed_init_data(BOT_TOKEN, 4343))
    assert response.status_code == 403
    assert "share your phone" in response.json()["message"]


async def test_an_account_unlinked_in_the_bot_is_403_again(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    await join(service, telegram_id=4242)
    await service.members.unlink_telegram(4242)
    assert (await login(client, signed_init_data(BOT_TOKEN, 4242))).status_code == 403


def tampered(init_data: str, **changes: str) -> str:
    fields = dict(parse_qsl(init_data))
    fields.update(changes)
    return urlencode(fields)


@pytest.mark.parametrize(
    "init_data",
    [
        pytest.param(signed_init_data("654321:another-bot", 4242), id="another bot's token"),
        pytest.param(
            tampered(signed_init_data(BOT_TOKEN, 1), user='{"id":4242,"first_name":"Ann"}'),
            id="user swapped after signing",
        ),
        pytest.param(
            tampered(signed_init_data(BOT_TOKEN, 4242, age=MAX_AGE + 60), auth_date="2000000000"),
            id="auth_date moved after signing",
        ),
        pytest.param(tampered(signed_init_data(BOT_TOKEN, 4242), hash="0" * 64), id="bad hash"),
        pytest.param(
            urlencode(
                {k: v for k, v in parse_qsl(signed_init_data(BOT_TOKEN, 4242)) if k != "hash"}
            ),
            id="no hash",
        ),
        pytest.param("", id="empty"),
        pytest.param("not a query string", id="garbage"),
    ],
)
async def test_a_wrong_signature_is_401(
    client: httpx.AsyncClient, service: ReferralService, init_data: str
) -> None:
    await join(service, telegram_id=4242)
    response = await login(client, init_data)
    assert response.status_code == 401
    assert response.json() == {"message": "The init data is not signed by Telegram for this bot."}


async def test_init_data_older_than_a_day_is_401(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    await join(service, telegram_id=4242)
    fresh_enough = await login(client, signed_init_data(BOT_TOKEN, 4242, age=MAX_AGE - 60))
    assert fresh_enough.status_code == 200
    old = await login(client, signed_init_data(BOT_TOKEN, 4242, age=MAX_AGE + 60))
    assert old.status_code == 401
    assert "more than a day old" in old.json()["message"]


async def test_signed_init_data_without_a_user_is_401(client: httpx.AsyncClient) -> None:
    response = await login(client, signed_init_data(BOT_TOKEN, None))
    assert response.status_code == 401
    assert response.json() == {"message": "The init data names no Telegram user."}


async def test_without_a_bot_token_telegram_login_is_off(
    tmp_path: Path, service: ReferralService
) -> None:
    app: FastAPI = create_app(api_settings(tmp_path), service)
    async with http_client(app) as client:
        response = await login(client, signed_init_data(BOT_TOKEN, 4242))
    assert response.status_code == 503
    assert "BOT_TOKEN" in response.json()["message"]


async def test_telegram_login_is_not_counted_against_the_address_limit(
    tmp_path: Path, service: ReferralService
) -> None:
    await join(service, telegram_id=4242)
    app = create_app(
        api_settings(tmp_path, bot_token=BOT_TOKEN, api_address_hourly_limit=2), service
    )
    async with http_client(app) as client:
        for _ in range(5):
            assert (await login(client, signed_init_data(BOT_TOKEN, 4242))).status_code == 200
