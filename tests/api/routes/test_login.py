"""POST /api/login/ and /api/verify/: the original's cases, with the code checked by the server."""

from pathlib import Path

import httpx
import pytest

from api import create_app
from db.service import ReferralService
from delivery import DeliveryError, LogDelivery
from tests.api.conftest import api_settings, http_client, login_code
from tests.conftest import Clock, join, new_phone


def other_code(code: str) -> str:
    """A code of the same length that is surely not `code`."""
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


@pytest.mark.parametrize("phone", ["+7 (123) 456-78-9", "", "abcd"])
async def test_impossible_phone_is_refused(client: httpx.AsyncClient, phone: str) -> None:
    response = await client.post("/api/login/", json={"phone": phone})
    assert response.status_code == 400
    assert "phone" in response.json()["message"]


async def test_possible_phone_gets_a_four_digit_code_in_chat_mode(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/login/", json={"phone": "+7 (123) 456-78-90"})
    assert response.status_code == 200
    body = response.json()
    assert body["phone"] == "+71234567890"
    assert len(body["code"]) == 4 and body["code"].isdigit()
    assert body["message"] and body["expires_in"] == 300 and body["resend_after"] == 60


async def test_code_is_not_in_the_answer_outside_chat_mode(
    service: ReferralService, tmp_path: Path
) -> None:
    service.members.delivery = LogDelivery()
    app = create_app(api_settings(tmp_path, code_delivery="log"), service)
    async with http_client(app) as client:
        response = await client.post("/api/login/", json={"phone": new_phone()})
    assert response.status_code == 200
    assert "code" not in response.json()


async def test_phone_as_a_json_number_is_read_as_its_digits(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/login/", json={"phone": 79990001122})
    assert response.status_code == 200
    assert response.json()["phone"] == "+79990001122"


async def test_paths_answer_without_the_trailing_slash(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/login", json={"phone": new_phone()})
    assert response.status_code == 200 and "code" in response.json()


async def test_two_logins_give_two_codes_and_only_the_latest_works(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    service.members.resend_cooldown = 0
    phone = new_phone()
    first = await login_code(client, phone)
    latest = await login_code(client, phone)
    while latest == first:  # one chance in 10,000
        latest = await login_code(client, phone)
    stale = await client.post("/api/verify/", json={"phone": phone, "code": first})
    assert stale.status_code == 400
    fresh = await client.post("/api/verify/", json={"phone": phone, "code": latest})
    assert fresh.status_code == 201


async def test_wrong_code_is_refused_with_the_attempts_left(client: httpx.AsyncClient) -> None:
    phone = new_phone()
    code = await login_code(client, phone)
    response = await client.post("/api/verify/", json={"phone": phone, "code": other_code(code)})
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid code. 4 attempts left.", "attempts_left": 4}


async def test_existing_member_logs_in_with_200(
    client: httpx.AsyncClient, service: ReferralService, clock: Clock
) -> None:
    phone = new_phone()
    await join(service, phone)
    clock.advance(service.members.resend_cooldown)
    code = await login_code(client, phone)
    response = await client.post("/api/verify/", json={"phone": phone, "code": code})
    assert response.status_code == 200
    assert response.json()["message"] == "Login successful."
    assert response.json()["token"]


async def test_new_phone_joins_with_201(client: httpx.AsyncClient) -> None:
    phone = new_phone()
    code = await login_code(client, phone)
    response = await client.post("/api/verify/", json={"phone": phone, "code": code})
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "User created and logged in."
    assert body["token"] and body["token_type"] == "Bearer" and body["expires_in"] == 3600


async def test_code_of_another_phone_does_not_work(client: httpx.AsyncClient, clock: Clock) -> None:
    mine, theirs = new_phone(), new_phone()
    my_code = await login_code(client, mine)
    their_code = await login_code(client, theirs)
    while their_code == my_code:  # one chance in 10,000
        clock.advance(61)
        their_code = await login_code(client, theirs)
    response = await client.post("/api/verify/", json={"phone": mine, "code": their_code})
    assert response.status_code == 400


async def test_code_works_once(client: httpx.AsyncClient) -> None:
    phone = new_phone()
    code = await login_code(client, phone)
    first = await client.post("/api/verify/", json={"phone": phone, "code": code})
    assert first.status_code == 201
    again = await client.post("/api/verify/", json={"phone": phone, "code": code})
    assert again.status_code == 400
    assert "No code" in again.json()["message"]


async def test_client_supplied_verify_field_is_the_code_checked(
    client: httpx.AsyncClient,
) -> None:
    """The original web client sent the code it was given as `code` and the typed one as
    `verify`; the original compared the two. Here the typed one is checked against the server."""
    phone = new_phone()
    code = await login_code(client, phone)
    lie = {"phone": phone, "code": "1234", "verify": "1234"}
    if code != "1234":
        refused = await client.post("/api/verify/", json=lie)
        assert refused.status_code == 400
    typed = {"phone": phone, "code": "undefined", "verify": code}
    assert (await client.post("/api/verify/", json=typed)).status_code == 201


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"phone": "abcd", "code": "1234"}, "phone"),
        ({"phone": new_phone(), "code": "12a4"}, "4 digits"),
        ({"phone": new_phone(), "code": "1234"}, "No code"),
    ],
)
async def test_verify_refusals_say_what_is_wrong(
    client: httpx.AsyncClient, body: dict[str, str], fragment: str
) -> None:
    response = await client.post("/api/verify/", json=body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


async def test_expired_code_is_refused(client: httpx.AsyncClient, clock: Clock) -> None:
    phone = new_phone()
    code = await login_code(client, phone)
    clock.advance(301)
    response = await client.post("/api/verify/", json={"phone": phone, "code": code})
    assert response.status_code == 400
    assert "expired" in response.json()["message"]


class BrokenGateway(LogDelivery):
    async def deliver(self, phone: str, code: str, ttl: int, *, shown_phone: str) -> None:
        raise DeliveryError("gateway down")


async def test_failed_delivery_is_503(service: ReferralService, client: httpx.AsyncClient) -> None:
    service.members.delivery = BrokenGateway()
    response = await client.post("/api/login/", json={"phone": new_phone()})
    assert response.status_code == 503
    assert response.json() == {"message": "The code could not be sent; try again later."}
