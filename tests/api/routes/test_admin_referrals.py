"""The admin API of referral stages (api/routes/admin_referrals.py): with ADMIN_API_TOKEN a
machine lists the pending referrals by keyset pages and qualifies or reverses them; without the
token (or with a wrong one) every path is an unknown one."""

from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api import create_app
from db.service import ReferralService
from delivery import ChatDelivery
from settings import Qualify, Settings
from tests.api.conftest import api_settings, bearer
from tests.conftest import Clock, en, join

MACHINE = "m" * 32 + "-the-operator's-system"
PATHS = [
    ("GET", "/api/admin/referrals/?stage=pending"),
    ("POST", "/api/admin/referrals/1/qualify/"),
    ("POST", "/api/admin/referrals/1/reverse/"),
]


@pytest.fixture
def service(clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock) -> ReferralService:
    return ReferralService(
        pool,
        signing_key=b"test-secret",
        delivery=ChatDelivery(delay=0),
        clock=clock,
        qualify=Qualify("external"),
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return api_settings(tmp_path, admin_api_token=MACHINE, qualify="external")


@pytest.mark.parametrize(("method", "path"), PATHS)
async def test_without_the_token_the_paths_do_not_exist(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    for headers in ({}, bearer(MACHINE[:-1]), bearer(MACHINE + "x"), {"Authorization": MACHINE}):
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 404, (path, headers)


async def test_no_machine_access_when_the_token_is_unset(
    tmp_path: Path, service: ReferralService
) -> None:
    app: FastAPI = create_app(api_settings(tmp_path), service)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/admin/referrals/?stage=pending", headers=bearer(""))
        assert response.status_code == 404


def test_a_short_token_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="admin_api_token"):
        api_settings(tmp_path, admin_api_token="short")


async def test_a_machine_pages_qualifies_and_reverses(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    inviter = await join(service)
    members = [await join(service) for _ in range(5)]
    for member in members:
        await service.invitations.activate_invite(member.id, inviter.invite_code)
    seen, after = [], 0
    while True:
        response = await client.get(
            "/api/admin/referrals/",
            params={"stage": "pending", "limit": 2, "after": after},
            headers=bearer(MACHINE),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [(r["member_id"], r["waits_for"], r["inviter_id"]) for r in body["referrals"]]
        if body["next"] is None:
            break
        after = body["next"]
    assert seen == [(m.id, "external", inviter.id) for m in members]

    qualify = f"/api/admin/referrals/{members[0].id}/qualify/"
    response = await client.post(qualify, json={"reason": "order paid"}, headers=bearer(MACHINE))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "member_id": members[0].id,
        "inviter_id": inviter.id,
        "stage": "qualified",
        "inviter_referrals": 1,
    }
    again = await client.post(qualify, headers=bearer(MACHINE))
    assert again.status_code == 409
    assert again.json() == {"message": en("api-admin-referral-qualified")}

    reverse = f"/api/admin/referrals/{members[0].id}/reverse/"
    response = await client.post(reverse, json={"reason": "refund"}, headers=bearer(MACHINE))
    assert response.status_code == 200
    assert response.json()["inviter_referrals"] == 0
    refused = await client.post(qualify, headers=bearer(MACHINE))
    assert refused.json() == {"message": en("api-admin-referral-reversed")}
    unknown = await client.post(
        f"/api/admin/referrals/{inviter.id}/qualify/", headers=bearer(MACHINE)
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"message": en("api-admin-no-referral")}
    bad = await client.post(reverse, content=b"{not json", headers=bearer(MACHINE))
    assert bad.status_code == 400
    listed = await client.get("/api/admin/referrals/?stage=pending", headers=bearer(MACHINE))
    assert [r["member_id"] for r in listed.json()["referrals"]] == [m.id for m in members[1:]]
