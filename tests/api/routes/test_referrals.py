"""GET and POST /api/data/: the original's cases, the outcomes of Invitations, and paging."""

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api import create_app
from api.models import ReferralData, ReferralEntry
from api.tokens import AccessTokens
from db.phones import mask_phone
from db.results import Member
from db.service import ReferralService
from tests.api.conftest import SECRET, TTL, api_settings, bearer, http_client
from tests.conftest import Clock, join


def token_of(member: Member) -> dict[str, str]:
    return bearer(AccessTokens(SECRET.encode(), TTL).issue(member.id))


async def read(client: httpx.AsyncClient, member: Member) -> dict[str, object]:
    response = await client.get("/api/data/", headers=token_of(member))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def register(client: httpx.AsyncClient, member: Member, code: str) -> httpx.Response:
    return await client.post("/api/data/", json={"ref_code": code}, headers=token_of(member))


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("authorization", [None, "Token ", "Token nonsense", "Bearer a.b.c"])
async def test_without_a_valid_token_is_401(
    client: httpx.AsyncClient, method: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.request(method, "/api/data/", headers=headers, json={"ref_code": "X"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["message"]


async def test_inviter_invited_and_loner_see_their_own_data(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    inviter, invited, loner = await join(service), await join(service), await join(service)
    await service.invitations.activate_invite(invited.id, inviter.invite_code)

    joined_at = (await service.invitations.referrals_page(inviter.id)).referrals[0].invited_at
    assert await read(client, inviter) == {
        "ref": inviter.invite_code,
        "invited": "",
        "users": [service.phones.referral(invited.phone)],
        "users_total": 1,
        "language": None,
        "next": None,
        "referrals": [
            {
                "phone": service.phones.referral(invited.phone),
                "joined_at": joined_at.isoformat().replace("+00:00", "Z"),
            }
        ],
        "milestone_reached": None,
        "milestone_next": 5,
        "operator": False,
    }
    invited_data = await read(client, invited)
    assert invited_data["ref"] == invited.invite_code
    assert invited_data["invited"] == inviter.invite_code
    assert invited_data["users"] == []
    loner_data = await read(client, loner)
    assert (loner_data["invited"], loner_data["users"]) == ("", [])


async def test_registering_a_code_shows_on_both_sides_in_order(
    client: httpx.AsyncClient, service: ReferralService, clock: Clock
) -> None:
    inviter = await join(service)
    members = [await join(service) for _ in range(3)]
    for member in members:
        clock.advance(1)
        response = await register(client, member, f" {inviter.invite_code.lower()} ")
        assert response.status_code == 200
        assert response.json() == {
            "message": f"Referral code {inviter.invite_code} successfully registered.",
            "invited": inviter.invite_code,
        }
        assert (await read(client, member))["invited"] == inviter.invite_code
    inviter_data = await read(client, inviter)
    assert inviter_data["users"] == [service.phones.referral(member.phone) for member in members]
    assert inviter_data["users_total"] == 3


async def test_own_code_is_400(client: httpx.AsyncClient, service: ReferralService) -> None:
    member = await join(service)
    response = await register(client, member, member.invite_code)
    assert response.status_code == 400
    assert response.json() == {"message": "You cannot invite yourself."}
    assert (await read(client, member))["invited"] == ""


@pytest.mark.parametrize("code", ["not_exists", "ZZZZZZ"])
async def test_unknown_code_is_404_and_says_what_a_code_looks_like(
    client: httpx.AsyncClient, service: ReferralService, code: str
) -> None:
    member = await join(service)
    response = await register(client, member, code)
    assert response.status_code == 404
    assert response.json()["message"].startswith("No such code exists.")
    assert "6 characters" in response.json()["message"]


@pytest.mark.parametrize("body", [{"ref_code": ""}, {"ref_code": "   "}, {}])
async def test_no_code_is_400(
    client: httpx.AsyncClient, service: ReferralService, body: dict[str, str]
) -> None:
    member = await join(service)
    response = await client.post("/api/data/", json=body, headers=token_of(member))
    assert response.status_code == 400
    assert response.json() == {"message": "Referral code is required."}


async def test_second_registration_is_409_naming_the_first_code(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    first, second, member = await join(service), await join(service), await join(service)
    assert (await register(client, member, first.invite_code)).status_code == 200
    response = await register(client, member, second.invite_code)
    assert response.status_code == 409
    assert response.json()["invited"] == first.invite_code
    assert first.invite_code in response.json()["message"]


async def test_code_that_would_make_a_cycle_is_400(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    top, middle, bottom = await join(service), await join(service), await join(service)
    assert (await register(client, middle, top.invite_code)).status_code == 200
    assert (await register(client, bottom, middle.invite_code)).status_code == 200
    response = await register(client, top, bottom.invite_code)
    assert response.status_code == 400
    assert "cycle" in response.json()["message"]


async def test_referrals_come_in_pages_of_100(
    client: httpx.AsyncClient, service: ReferralService, clock: Clock
) -> None:
    inviter = await join(service)
    phones = []
    for _ in range(101):
        member = await join(service)
        clock.advance(0.001)
        await service.invitations.activate_invite(member.id, inviter.invite_code)
        phones.append(service.phones.referral(member.phone))
    first = await read(client, inviter)
    assert first["users"] == phones[:100] and first["users_total"] == 101
    assert isinstance(first["next"], str)
    response = await client.get(
        "/api/data/", params={"cursor": first["next"]}, headers=token_of(inviter)
    )
    assert response.status_code == 200
    assert response.json()["users"] == phones[100:]
    assert response.json()["next"] is None


async def test_a_page_may_be_smaller_and_carries_the_times(
    client: httpx.AsyncClient, service: ReferralService, clock: Clock
) -> None:
    inviter = await join(service)
    for _ in range(5):
        member = await join(service)
        clock.advance(60)
        await service.invitations.activate_invite(member.id, inviter.invite_code)
    pages = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/data/", params=params, headers=token_of(inviter))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["users"] == [entry["phone"] for entry in body["referrals"]]
        pages.append(body["referrals"])
        cursor = body["next"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    times = [entry["joined_at"] for page in pages for entry in page]
    assert times == sorted(times) and len(set(times)) == 5


async def test_a_thousand_referrals_come_in_one_page_when_asked(
    client: httpx.AsyncClient, service: ReferralService, clean_engine: AsyncEngine
) -> None:
    inviter = await join(service)
    async with clean_engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO members (phone, invite_code, inviter_id, invited_at) "
                "SELECT '+7998' || lpad(n::text, 7, '0'), 'Q' || lpad(to_hex(n), 5, '0'), :id, "
                "now() - interval '1 day' + n * interval '1 second' "
                "FROM generate_series(1, 1001) AS n"
            ),
            {"id": inviter.id},
        )
    response = await client.get("/api/data/", params={"limit": 1000}, headers=token_of(inviter))
    assert response.status_code == 200, response.text
    first = response.json()
    assert len(first["users"]) == 1000 and first["next"] is not None
    params = {"limit": 1000, "cursor": first["next"]}
    rest = (await client.get("/api/data/", params=params, headers=token_of(inviter))).json()
    assert len(rest["users"]) == 1 and rest["next"] is None


@pytest.mark.parametrize("limit", ["0", "1001", "many"])
async def test_a_page_size_out_of_range_is_400(
    client: httpx.AsyncClient, service: ReferralService, limit: str
) -> None:
    member = await join(service)
    response = await client.get("/api/data/", params={"limit": limit}, headers=token_of(member))
    assert response.status_code == 400
    assert "limit" in response.json()["message"]


@pytest.mark.parametrize(
    "cursor",
    ["", "garbage", "1.2.3", "ffffffffffffffff.1", "1.ffffffffffffffffffff", "-ffffffffffffff.1"],
)
async def test_malformed_cursor_is_400(
    client: httpx.AsyncClient, service: ReferralService, cursor: str
) -> None:
    member = await join(service)
    response = await client.get("/api/data/", params={"cursor": cursor}, headers=token_of(member))
    assert response.status_code == 400
    assert "cursor" in response.json()["message"]


async def test_export_is_the_members_data(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    inviter, member = await join(service, telegram_id=4_000_000_001), await join(service)
    await service.invitations.activate_invite(member.id, inviter.invite_code)
    response = await client.get("/api/data/export/", headers=token_of(inviter))
    assert response.status_code == 200
    document = response.json()
    assert document["phone"] == inviter.phone and document["telegram_id"] == 4_000_000_001
    assert document["invite_code"] == inviter.invite_code
    assert [referral["phone"] for referral in document["referrals"]] == [
        service.phones.referral(member.phone)
    ]


async def test_delete_erases_and_the_token_is_dead(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    inviter, member = await join(service), await join(service)
    await service.invitations.activate_invite(member.id, inviter.invite_code)
    erased = await client.delete("/api/data/", headers=token_of(member))
    assert erased.status_code == 204 and erased.content == b""
    for method, path in [("GET", "/api/data/"), ("GET", "/api/data/export/"),
                         ("DELETE", "/api/data/")]:  # fmt: skip
        response = await client.request(method, path, headers=token_of(member))
        assert response.status_code == 401, (method, path)
    body = await read(client, inviter)
    assert body["users"] == ["deleted member"] and body["users_total"] == 1
    newcomer = await join(service)
    refused = await register(client, newcomer, member.invite_code)
    assert refused.status_code == 404


async def test_the_openapi_document_gives_the_page_size_bounds(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    parameters = document["paths"]["/api/data/"]["get"]["parameters"]
    [limit] = [parameter for parameter in parameters if parameter["name"] == "limit"]
    assert limit["schema"]["maximum"] == 1000 and limit["schema"]["minimum"] == 1
    assert limit["schema"]["default"] == 100


async def test_the_answer_is_the_documented_model_field_by_field(
    client: httpx.AsyncClient, service: ReferralService, clock: Clock
) -> None:
    inviter, friend = await join(service), await join(service)
    await service.invitations.activate_invite(friend.id, inviter.invite_code)
    response = await client.get("/api/data/", headers=token_of(inviter))
    body = response.json()
    assert list(body) == list(ReferralData.model_fields)
    assert list(body["referrals"][0]) == list(ReferralEntry.model_fields)
    assert response.content == ReferralData.model_validate(body).model_dump_json().encode()


async def test_anybody_may_check_an_invite_code_and_learn_only_its_masked_owner(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    owner = await join(service)
    found = await client.get(f"/api/invite/{owner.invite_code.lower()}/")
    assert found.status_code == 200
    assert found.json() == {
        "code": owner.invite_code,
        "owner": mask_phone(owner.phone),
        "suspended": False,
        "offer": None,
    }
    for nobody in ("ZZZZZZ", "O0O0O0", "abc"):
        missing = await client.get(f"/api/invite/{nobody}/")
        assert missing.status_code == 404
        assert missing.json()["message"].startswith("No such code exists.")
    await service.operators.block(owner.id, operator=1)
    assert (await client.get(f"/api/invite/{owner.invite_code}/")).json()["suspended"] is True


async def test_with_a_token_the_check_says_what_registering_would_answer(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    member, stranger, below = await join(service), await join(service), await join(service)
    await service.invitations.activate_invite(below.id, member.invite_code)

    async def offer(code: str) -> object:
        response = await client.get(f"/api/invite/{code}/", headers=token_of(member))
        return response.json()["offer"]

    assert await offer(below.invite_code) == "cycle"
    assert await offer(member.invite_code) == "own_code"
    assert await offer(stranger.invite_code) == "activated"
    assert (await read(client, member))["invited"] == "", "nothing was registered"


async def test_invite_checks_count_with_logins_per_address(
    service: ReferralService, tmp_path: Path
) -> None:
    owner = await join(service)
    app = create_app(api_settings(tmp_path, api_address_hourly_limit=2), service)
    async with http_client(app, "198.51.100.9") as greedy:
        for _ in range(2):
            assert (await greedy.get(f"/api/invite/{owner.invite_code}/")).status_code == 200
        refused = await greedy.get(f"/api/invite/{owner.invite_code}/")
        assert refused.status_code == 429
        assert "your address" in refused.json()["message"]
