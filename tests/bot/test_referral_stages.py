"""Pending referrals in `/refs`: counted only once qualified, listed with what they wait for,
in both languages."""

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from db.service import ReferralService
from delivery import ChatDelivery
from settings import Qualify
from tests.bot.conftest import People, texts_of
from tests.conftest import Clock, en, join


@pytest.fixture
def qualify() -> str:
    return "manual"


@pytest.fixture
def service(
    clean_engine: AsyncEngine, pool: asyncpg.Pool, clock: Clock, qualify: str
) -> ReferralService:
    return ReferralService(
        pool,
        signing_key=b"test-secret",
        delivery=ChatDelivery(delay=0),
        clock=clock,
        qualify=Qualify.parse(qualify),
    )


async def test_refs_lists_pending_ones_waiting_for_approval(
    people: People, service: ReferralService
) -> None:
    owner = people()
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    first, second = await join(service), await join(service)
    for member in (first, second):
        await service.invitations.activate_invite(member.id, inviter.invite_code)
    await service.referrals.qualify(first.id, reason="approved")
    text = texts_of(await owner.send("/refs"))[-1]
    assert text.startswith("People who joined with your code: 1 (page 1 of 1)")
    lines = text.splitlines()[2:]
    assert not lines[0].endswith(en("referral-waits-for-approval"))
    assert lines[1].endswith("⏳ " + en("referral-waits-for-approval"))


@pytest.mark.parametrize("qualify", ["in_chats:7d"])
async def test_refs_tells_the_days_to_go_in_russian(
    people: People, service: ReferralService
) -> None:
    owner = people("ru")
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    member = await join(service)
    await service.invitations.activate_invite(member.id, inviter.invite_code)
    text = texts_of(await owner.send("/refs"))[-1]
    assert text.startswith("По вашему коду пришли 0 друзей")
    assert text.endswith("⏳ ожидает, осталось 7 дней")
