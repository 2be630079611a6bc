"""Access tokens: only our own HS256 tokens, unexpired, naming a member who still exists."""

import base64
import json
import time
from collections.abc import Callable

import httpx
import jwt
import pytest

from api.tokens import AccessTokens, InvalidToken
from db.service import ReferralService
from tests.api.conftest import SECRET, sign_in
from tests.conftest import join


def crafted(claims: dict[str, object], key: str = SECRET) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


def unsigned(claims: dict[str, object]) -> str:
    """An `alg: none` token, which must never be accepted."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def get_data(client: httpx.AsyncClient, authorization: str) -> httpx.Response:
    return await client.get("/api/data/", headers={"Authorization": authorization})


async def test_issued_token_is_hs256_with_sub_iat_exp(client: httpx.AsyncClient) -> None:
    token = await sign_in(client)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"].isdigit()
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 60


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "Token"])
async def test_bearer_and_the_original_token_prefix_are_accepted(
    client: httpx.AsyncClient, scheme: str
) -> None:
    token = await sign_in(client)
    assert (await get_data(client, f"{scheme} {token}")).status_code == 200


async def test_expired_token_is_401(client: httpx.AsyncClient, service: ReferralService) -> None:
    member = await join(service)
    now = int(time.time())
    token = crafted({"sub": str(member.id), "iat": now - 7200, "exp": now - 3600})
    response = await get_data(client, f"Bearer {token}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "expired" in response.json()["message"]


@pytest.mark.parametrize(
    "make_token",
    [
        lambda member_id, now: crafted(
            {"sub": member_id, "iat": now, "exp": now + 60},
            key="another-key-that-is-long-enough-for-hs256",
        ),
        lambda member_id, now: unsigned({"sub": member_id, "iat": now, "exp": now + 60}),
        lambda member_id, now: "garbage",
        lambda member_id, now: crafted({"sub": member_id, "iat": now}),  # never expires
        lambda member_id, now: crafted({"sub": "admin", "iat": now, "exp": now + 60}),
        lambda member_id, now: crafted({"sub": "9" * 30, "iat": now, "exp": now + 60}),
    ],
    ids=["another-key", "alg-none", "garbage", "no-exp", "sub-not-an-id", "sub-too-large"],
)
async def test_forged_or_malformed_token_is_401(
    client: httpx.AsyncClient, service: ReferralService, make_token: Callable[[str, int], str]
) -> None:
    member = await join(service)
    token = make_token(str(member.id), int(time.time()))
    for method in ("GET", "POST"):
        response = await client.request(
            method, "/api/data/", headers={"Authorization": f"Bearer {token}"}, json={}
        )
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json() == {"message": "The token is not valid."}


async def test_token_of_a_member_who_is_gone_is_401(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    token = await sign_in(client)
    member_id = int(jwt.decode(token, SECRET, algorithms=["HS256"])["sub"])
    async with service.connections.acquire() as connection:
        await connection.execute("DELETE FROM members WHERE id = $1", member_id)
    headers = {"Authorization": f"Bearer {token}"}
    gone = "The member of this token no longer exists (their data was erased); log in again."
    read = await client.get("/api/data/", headers=headers)
    assert read.status_code == 401
    assert read.json() == {"message": gone}
    for code in ("not_exists", "ZZZZZZ"):
        write = await client.post("/api/data/", headers=headers, json={"ref_code": code})
        assert write.status_code == 401
        assert write.json() == {"message": gone}


class MovingClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_remembered_token_still_expires() -> None:
    clock = MovingClock()
    tokens = AccessTokens(SECRET.encode(), 60, clock=clock)
    token = tokens.issue(7)
    assert tokens.member_id(token) == 7 and tokens.cached == 1
    clock.now += 59
    assert tokens.member_id(token) == 7
    clock.now += 1
    with pytest.raises(InvalidToken) as refused:
        tokens.member_id(token)
    assert refused.value.message_id == "api-token-expired"


def test_remembered_tokens_are_bounded_and_forgotten_ones_verified_again() -> None:
    tokens = AccessTokens(SECRET.encode(), 60, cache_size=3)
    issued = {member_id: tokens.issue(member_id) for member_id in range(1, 11)}
    for member_id, token in issued.items():
        assert tokens.member_id(token) == member_id
    assert tokens.cached == 3
    assert [tokens.member_id(token) for token in issued.values()] == list(range(1, 11))
    with pytest.raises(InvalidToken):
        tokens.member_id(issued[1][:-2] + "xx")  # a forged signature is never taken for known


async def test_a_used_token_of_a_member_erased_meanwhile_is_refused_at_once(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    token = await sign_in(client)
    assert (await get_data(client, f"Bearer {token}")).status_code == 200  # now remembered
    member_id = int(jwt.decode(token, SECRET, algorithms=["HS256"])["sub"])
    assert await service.privacy.erase_member(member_id)
    response = await get_data(client, f"Bearer {token}")
    assert response.status_code == 401
    assert "erased" in response.json()["message"]
