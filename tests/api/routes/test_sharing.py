"""GET /api/data/qr.svg: the QR code of the member's invite link."""

from pathlib import Path

import httpx
import segno

from api import create_app
from api.tokens import AccessTokens
from db.service import ReferralService
from sharing.qr import qr_svg
from tests.api.conftest import SECRET, TTL, api_settings, bearer, http_client
from tests.conftest import join


def token_of(member_id: int) -> dict[str, str]:
    return bearer(AccessTokens(SECRET.encode(), TTL).issue(member_id))


async def test_the_qr_code_is_of_the_members_web_link(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    member = await join(service)
    response = await client.get("/api/data/qr.svg", headers=token_of(member.id))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "no-store"
    link = f"http://testserver/?ref={member.invite_code}"
    assert response.content == qr_svg(link, title="Invite link")


async def test_with_a_bot_the_qr_code_is_of_its_deep_link(
    tmp_path: Path, service: ReferralService
) -> None:
    member = await join(service)
    app = create_app(api_settings(tmp_path), service, bot_username="club_bot")
    async with http_client(app) as client:
        response = await client.get("/api/data/qr.svg", headers=token_of(member.id))
    link = f"https://t.me/club_bot?start={member.invite_code}"
    assert response.content == qr_svg(link, title="Invite link")
    assert segno.make(link, error="m").designator in ("2-M", "3-M", "4-M")


async def test_the_qr_code_needs_a_token_of_an_existing_member(
    client: httpx.AsyncClient,
) -> None:
    anonymous = await client.get("/api/data/qr.svg")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    gone = await client.get("/api/data/qr.svg", headers=token_of(987654))
    assert gone.status_code == 401
    assert gone.json()["message"].startswith("The member of this token no longer exists")


async def test_top_lists_the_leaders_and_the_members_place(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    leader, asker, newcomer = await join(service), await join(service), await join(service)
    for inviter, count in ((leader, 2), (asker, 1)):
        for _ in range(count):
            referral = await join(service)
            await service.invitations.activate_invite(referral.id, inviter.invite_code)
    response = await client.get("/api/top/", headers=token_of(asker.id))
    assert response.status_code == 200
    body = response.json()
    for period in ("this_month", "all_time"):
        board = body[period]
        assert [(entry["place"], entry["referrals"]) for entry in board["leaders"]] == [
            (1, 2),
            (2, 1),
        ]
        assert board["leaders"][0]["phone"] == service.phones.referral(leader.phone)
        assert "***" in board["leaders"][0]["phone"]
        assert (board["place"], board["referrals"]) == (2, 1)
    assert body["month"] == service.now().date().replace(day=1).isoformat()
    nobody = (await client.get("/api/top", headers=token_of(newcomer.id))).json()
    assert (nobody["all_time"]["place"], nobody["all_time"]["referrals"]) == (None, 0)
    assert (await client.get("/api/top/")).status_code == 401


async def test_data_tells_the_milestone_reached_and_the_next(
    client: httpx.AsyncClient, service: ReferralService
) -> None:
    inviter = await join(service)
    first = (await client.get("/api/data/", headers=token_of(inviter.id))).json()
    assert (first["milestone_reached"], first["milestone_next"]) == (None, 5)
    for _ in range(6):
        referral = await join(service)
        await service.invitations.activate_invite(referral.id, inviter.invite_code)
    later = (await client.get("/api/data/", headers=token_of(inviter.id))).json()
    assert (later["users_total"], later["milestone_reached"], later["milestone_next"]) == (6, 5, 10)
