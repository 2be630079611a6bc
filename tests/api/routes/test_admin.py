"""The operators' API: hidden (404) from everybody else, figures, lookup, card, block/unblock
and the CSV export, over HTTP in this process."""

import asyncio
import csv
import io
import logging
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api import create_app
from api.state import state_of
from db.operators import EXPORT_COLUMNS, EXPORT_LOCK
from db.results import Member
from db.service import ReferralService
from delivery import ChatDelivery
from settings import Settings
from tests.api.conftest import bearer, http_client, served, sign_in
from tests.conftest import Clock, en, join

OPERATOR_ID = 6_000_000_001
ADMIN_PATHS = [
    ("GET", "/api/admin/stats/"),
    ("GET", "/api/admin/stats"),
    ("GET", "/api/admin/members/?q=K7M2QX"),
    ("GET", "/api/admin/members/1/"),
    ("POST", "/api/admin/members/1/block/"),
    ("POST", "/api/admin/members/1/unblock/"),
    ("GET", "/api/admin/export.csv"),
    ("GET", "/api/admin/events/"),
    ("POST", "/api/admin/events/retry/"),
    ("GET", "/api/admin/referrals/?stage=pending"),
    ("POST", "/api/admin/referrals/1/qualify/"),
    ("POST", "/api/admin/referrals/1/reverse/"),
    ("DELETE", "/api/admin/stats/"),  # a wrong method: 404 too, not 405
    ("GET", "/api/admin/members/abc/"),  # a malformed id: 404 too, not 400
]


@pytest.fixture
def service(clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock) -> ReferralService:
    return ReferralService(
        pool,
        signing_key=b"test-secret",
        delivery=ChatDelivery(delay=0),
        clock=clock,
        admin_ids=[OPERATOR_ID],
    )


@pytest.fixture
async def operator_token(app: FastAPI, service: ReferralService) -> str:
    member = await join(service, telegram_id=OPERATOR_ID)
    token: str = state_of(app).tokens.issue(member.id)
    return token


async def members(service: ReferralService, count: int) -> list[Member]:
    return [await join(service) for _ in range(count)]


@pytest.mark.parametrize(("method", "path"), ADMIN_PATHS)
async def test_nobody_else_can_tell_the_admin_paths_exist(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    token = await sign_in(client)  # a member, but not an operator
    unknown = await client.request(method, "/api/nothing/here/")
    for headers in ({}, bearer(token), bearer("garbage"), {"Authorization": "Basic x"}):
        response = await client.request(method, path, headers=headers, content=b"{not json")
        assert response.status_code == 404, (path, headers, response.text)
        expected = unknown.json()["message"].replace("/api/nothing/here/", path.split("?")[0])
        assert response.json() == {"message": expected}
        assert "allow" not in response.headers


async def test_the_members_own_data_says_who_is_an_operator(
    client: httpx.AsyncClient, operator_token: str
) -> None:
    operator = await client.get("/api/data/", headers=bearer(operator_token))
    member = await client.get("/api/data/", headers=bearer(await sign_in(client)))
    assert (operator.json()["operator"], member.json()["operator"]) == (True, False)


async def test_the_openapi_document_tags_them_admin(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    tagged = {
        path
        for path, item in document["paths"].items()
        for operation in item.values()
        if operation["tags"] == ["admin"]
    }
    assert tagged == {
        "/api/admin/stats/",
        "/api/admin/members/",
        "/api/admin/members/{member_id}/",
        "/api/admin/members/{member_id}/block/",
        "/api/admin/members/{member_id}/unblock/",
        "/api/admin/export.csv",
        "/api/admin/events/",
        "/api/admin/events/retry/",
        "/api/admin/referrals/",
        "/api/admin/referrals/{member_id}/qualify/",
        "/api/admin/referrals/{member_id}/reverse/",
    }


async def test_stats(
    client: httpx.AsyncClient, service: ReferralService, operator_token: str
) -> None:
    inviter, *others = await members(service, 4)
    for member in others:
        await service.invitations.activate_invite(member.id, inviter.invite_code)
    response = await client.get("/api/admin/stats/", headers=bearer(operator_token))
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["members"] == 5 and stats["invited"] == 3 and stats["invited_share"] == 0.6
    assert stats["joined_today"] == stats["joined_7_days"] == stats["joined_30_days"] == 5
    assert stats["top_inviters"] == [
        {"member_id": inviter.id, "phone": "+7 999 ***-**-" + inviter.phone[-2:], "referrals": 3}
    ]
    assert len(stats["days"]) == 30 and stats["days"][-1]["activated"] == 3


async def test_find_and_read_members(
    client: httpx.AsyncClient, service: ReferralService, operator_token: str
) -> None:
    member = await join(service, telegram_id=6_100_000_001)
    headers = bearer(operator_token)
    for query in (member.phone, member.invite_code.lower(), "6100000001"):
        found = await client.get("/api/admin/members/", params={"q": query}, headers=headers)
        assert found.status_code == 200, found.text
        [card] = found.json()["members"]
        assert card["id"] == member.id and card["phone"] == member.phone
        assert card["status"] == "active" and card["blocked_at"] is None
    nobody = await client.get("/api/admin/members/?q=%2B79990000000", headers=headers)
    assert nobody.json() == {"members": []}
    bad = await client.get("/api/admin/members/?q=who", headers=headers)
    assert bad.status_code == 400 and bad.json() == {"message": en("api-admin-bad-query")}
    read = await client.get(f"/api/admin/members/{member.id}", headers=headers)
    assert read.status_code == 200 and read.json()["invite_code"] == member.invite_code
    missing = await client.get("/api/admin/members/999999/", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"message": en("api-admin-no-member")}


async def test_block_and_unblock(
    client: httpx.AsyncClient,
    service: ReferralService,
    operator_token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = await join(service)
    headers = bearer(operator_token)
    newcomer_token = await sign_in(client)
    with caplog.at_level(logging.INFO):
        blocked = await client.post(
            f"/api/admin/members/{owner.id}/block/",
            json={"reason": "bought followers"},
            headers=headers,
        )
    assert blocked.status_code == 200, blocked.text
    card = blocked.json()
    assert card["status"] == "blocked" and card["block_reason"] == "bought followers"
    assert card["blocked_by"] == OPERATOR_ID
    assert f"operator {OPERATOR_ID} blocked member {owner.id}" in caplog.text
    again = await client.post(f"/api/admin/members/{owner.id}/block", headers=headers)
    assert again.status_code == 409
    assert again.json() == {"message": en("api-admin-already-blocked")}

    refused = await client.post(
        "/api/data/", json={"ref_code": owner.invite_code}, headers=bearer(newcomer_token)
    )
    assert refused.status_code == 403
    assert refused.json() == {"message": en("api-code-suspended"), "blocked": "code"}
    owner_token = client_token(client, owner)
    own = await client.post("/api/data/", json={"ref_code": "K7M2QX"}, headers=owner_token)
    assert own.status_code == 403
    assert own.json() == {"message": en("api-member-blocked"), "blocked": "member"}

    unblocked = await client.post(f"/api/admin/members/{owner.id}/unblock/", headers=headers)
    assert unblocked.status_code == 200 and unblocked.json()["status"] == "active"
    not_blocked = await client.post(f"/api/admin/members/{owner.id}/unblock/", headers=headers)
    assert not_blocked.status_code == 409
    joined = await client.post(
        "/api/data/", json={"ref_code": owner.invite_code}, headers=bearer(newcomer_token)
    )
    assert joined.status_code == 200
    bad_body = await client.post(
        f"/api/admin/members/{owner.id}/block/", content=b"{not json", headers=headers
    )
    assert bad_body.status_code == 400
    gone = await client.post("/api/admin/members/999999/block/", headers=headers)
    assert gone.status_code == 404 and gone.json() == {"message": en("api-admin-no-member")}


def client_token(client: httpx.AsyncClient, member: Member) -> dict[str, str]:
    app = client._transport.app  # type: ignore[attr-defined]
    return bearer(state_of(app).tokens.issue(member.id))


async def test_operators_are_checked_on_every_request(
    app: FastAPI, client: httpx.AsyncClient, service: ReferralService, operator_token: str
) -> None:
    headers = bearer(operator_token)
    assert (await client.get("/api/admin/stats/", headers=headers)).status_code == 200
    await service.members.unlink_telegram(OPERATOR_ID)  # e.g. /logout in the bot
    assert (await client.get("/api/admin/stats/", headers=headers)).status_code == 404


async def test_an_id_removed_from_admin_ids_stops_working_with_the_same_token(
    service: ReferralService, pool: asyncpg.Pool, settings: Settings, operator_token: str
) -> None:
    without = ReferralService(pool, signing_key=b"test-secret", delivery=ChatDelivery(delay=0))
    async with http_client(create_app(settings, without)) as client:
        answer = await client.get("/api/admin/stats/", headers=bearer(operator_token))
    assert answer.status_code == 404


def parse(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"))))


async def test_export_streams_every_member_as_csv(
    app: FastAPI, service: ReferralService, operator_token: str, tmp_path: Path
) -> None:
    people = await members(service, 30)
    async with service.connections.acquire() as connection:
        await connection.execute(
            "UPDATE members SET language = $2 WHERE id = $1", people[0].id, 'a,"b'
        )
    headers = bearer(operator_token)
    async with (
        served(app, tmp_path) as url,
        httpx.AsyncClient(base_url=url) as client,
        client.stream("GET", "/api/admin/export.csv", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"].startswith("attachment; filename=")
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    header, *rows = parse(body)
    assert header == list(EXPORT_COLUMNS)
    assert len(rows) == 31  # the operator too
    assert {row[0]: row[8] for row in rows}[str(people[0].id)] == 'a,"b'


async def test_a_second_export_is_refused_while_one_runs(
    client: httpx.AsyncClient, service: ReferralService, operator_token: str
) -> None:
    async with service.connections.acquire() as holder, holder.transaction():
        await holder.execute("SELECT pg_advisory_xact_lock($1)", EXPORT_LOCK)
        busy = await client.get("/api/admin/export.csv", headers=bearer(operator_token))
    assert busy.status_code == 409
    assert busy.json() == {"message": en("api-admin-export-busy")}


async def test_a_client_that_goes_away_ends_the_export(
    app: FastAPI, service: ReferralService, operator_token: str, tmp_path: Path
) -> None:
    """The export runs while the client reads; when it leaves, the export (and its lock) end."""
    async with service.connections.acquire() as connection:
        await connection.execute(
            "INSERT INTO members (phone, invite_code) SELECT '+7901' || lpad(i::text, 7, '0'), "
            "'Z' || lpad(to_hex(i), 5, '0') FROM generate_series(1, 60000) AS i"
        )
    async with served(app, tmp_path) as url, httpx.AsyncClient(base_url=url) as client:
        async with client.stream(
            "GET", "/api/admin/export.csv", headers=bearer(operator_token)
        ) as response:
            assert response.status_code == 200
            async for _ in response.aiter_bytes():
                break  # read a little, then hang up
        for _ in range(50):
            again = await client.get("/api/admin/export.csv", headers=bearer(operator_token))
            if again.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert again.status_code == 200 and parse(again.content)[0] == list(EXPORT_COLUMNS)


async def test_events_counts_and_retry(
    client: httpx.AsyncClient,
    service: ReferralService,
    operator_token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with service.connections.acquire() as connection:
        await connection.execute("TRUNCATE outbox_events")
        await connection.execute(
            """
            INSERT INTO outbox_events (id, target, type, member_id, created_at, retrying_since,
                                       body, state)
            SELECT gen_random_uuid(), 0, 'member.joined', n, now(), now(), '{}', 'failed'
            FROM generate_series(1, 2) AS n
            """
        )
    response = await client.get("/api/admin/events/", headers=bearer(operator_token))
    assert response.json() == {"pending": 0, "failed": 2}
    with caplog.at_level(logging.INFO):
        response = await client.post("/api/admin/events/retry/", headers=bearer(operator_token))
    assert response.status_code == 200 and response.json() == {"requeued": 2}
    audit = f"operator {OPERATOR_ID} requeued 2 failed events"
    assert [record.getMessage() for record in caplog.records].count(audit) == 1
    assert await service.events.counts() == (2, 0)
