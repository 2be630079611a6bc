"""The API's `message` texts in the language `Accept-Language` prefers; nothing else changes."""

import httpx
import pytest

from api.messages import preferred_language
from api.tokens import AccessTokens
from db.service import ReferralService
from tests.api.conftest import SECRET, TTL, bearer
from tests.conftest import join, new_phone

RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}


async def test_russian_messages_with_the_same_fields_and_statuses(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    bad = await client.post("/api/login/", json={"phone": "abcd"}, headers=RU)
    assert bad.status_code == 400
    assert bad.json() == {"message": "Неверный номер телефона: укажите его с кодом страны, "
                                     "например +7 912 345-67-89."}  # fmt: skip
    phone = new_phone()
    sent = await client.post("/api/login/", json={"phone": phone}, headers=RU)
    assert sent.status_code == 200 and sent.json()["message"] == "Код подтверждения отправлен."
    assert set(sent.json()) == {"phone", "message", "code", "expires_in", "resend_after"}
    code = sent.json()["code"]
    wrong = f"{(int(code) + 1) % 10000:04d}"
    refused = await client.post("/api/verify/", json={"phone": phone, "code": wrong}, headers=RU)
    assert refused.json()["message"] == "Неверный код. Осталось попыток: 4."
    joined = await client.post("/api/verify/", json={"phone": phone, "code": code}, headers=RU)
    assert joined.status_code == 201
    assert joined.json()["message"] == "Пользователь создан, вход выполнен."
    token = bearer(joined.json()["token"])
    unknown = await client.post("/api/data/", json={"ref_code": "ZZZZZZ"}, headers=RU | token)
    assert unknown.status_code == 404
    assert unknown.json()["message"].startswith("Такого кода нет. Код приглашения — это 6 символов")
    no_token = await client.get("/api/data/", headers=RU)
    assert no_token.status_code == 401 and no_token.json()["message"].startswith("Не переданы")
    missing = await client.get("/api/nowhere/", headers=RU)
    assert missing.json() == {"message": "Не найдено: /api/nowhere/"}


@pytest.mark.parametrize("accept", [None, "en-US,en;q=0.9", "de-DE", "ru;q=0.5,en;q=0.8", "*"])
async def test_english_unless_russian_is_preferred(
    client: httpx.AsyncClient, accept: str | None
) -> None:
    headers = {"Accept-Language": accept} if accept else {}
    response = await client.post("/api/login/", json={"phone": "abcd"}, headers=headers)
    assert response.json()["message"].startswith("Invalid phone number")


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ru", "ru"),
        ("en-GB,ru;q=0.9", "en"),
        ("de,ru;q=0.7,en;q=0.6", "ru"),
        ("ru;q=0", "en"),
        ("ru;q=abc, en", "en"),
        ("", "en"),
    ],
)
def test_accept_language_is_read_by_weight(header: str, language: str) -> None:
    assert preferred_language(header, ("en", "ru")) == language


async def test_a_member_keeps_the_language_chosen_in_the_web_app(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    member = await join(service)
    token = bearer(AccessTokens(SECRET.encode(), TTL).issue(member.id))
    chosen = await client.put("/api/data/language/", json={"language": "ru"}, headers=token)
    assert chosen.status_code == 204
    assert (await client.get("/api/data/", headers=token)).json()["language"] == "ru"
    refused = await client.put("/api/data/language/", json={"language": "de"}, headers=token)
    assert refused.status_code == 400
    await service.privacy.erase_member(member.id)
    gone = await client.put("/api/data/language/", json={"language": "en"}, headers=token)
    assert gone.status_code == 401
