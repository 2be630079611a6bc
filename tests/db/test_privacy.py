"""Erasure: one transaction, nothing of the phone left, the referral graph kept anonymised, and
consistent when it races activations."""

import asyncio

import asyncpg
import pytest

from db.results import InviteOutcome
from db.service import ReferralService
from tests.conftest import join, new_phone


async def text_columns_holding(connection: asyncpg.Connection, needle: str) -> list[str]:
    """Every `table.column` of a text-like type in the public schema whose value contains it."""
    columns = await connection.fetch(
        """
        SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = 'public'
          AND data_type IN ('text', 'character varying', 'character', 'ARRAY', 'jsonb', 'json')
        """
    )
    found = []
    for column in columns:
        table, name = column["table_name"], column["column_name"]
        hit = await connection.fetchval(
            f'SELECT count(*) FROM "{table}" WHERE "{name}"::text LIKE $1', f"%{needle}%"
        )
        if hit:
            found.append(f"{table}.{name}")
    return found


async def test_no_row_holds_the_phone_after_erasure(service: ReferralService) -> None:
    phone = new_phone()
    inviter, member = await join(service), await join(service, phone, telegram_id=7_000_000_001)
    await service.invitations.activate_invite(member.id, inviter.invite_code)
    async with service.connections.acquire() as connection:
        assert await text_columns_holding(connection, phone[1:])  # the search finds it before
        assert await service.privacy.erase_member(member.id)
        assert await text_columns_holding(connection, phone[1:]) == []
        row = await connection.fetchrow("SELECT * FROM members WHERE id = $1", member.id)
    assert row["telegram_id"] is None and row["invite_code"] is None and row["language"] is None
    assert row["inviter_id"] == inviter.id and row["erased_at"] is not None
    assert not await service.privacy.erase_member(member.id)  # nothing left to erase


async def test_counts_stay_and_nobody_activates_through_the_erased_row(
    service: ReferralService,
) -> None:
    top, middle, bottom = await join(service), await join(service), await join(service)
    await service.invitations.activate_invite(middle.id, top.invite_code)
    await service.invitations.activate_invite(bottom.id, middle.invite_code)
    await service.privacy.erase_member(middle.id)

    top_profile = await service.members.profile(top.id)
    assert top_profile is not None and top_profile.referral_count == 1
    assert await service.members.profile(middle.id) is None
    page = await service.invitations.referrals_page(top.id)
    assert [referral.phone for referral in page.referrals] == [None]  # "deleted member"
    assert (await service.invitations.activate_invite(middle.id, top.invite_code)).outcome is (
        InviteOutcome.MEMBER_NOT_FOUND
    )
    # The chain still runs through the anonymised row: top cannot join with bottom's code.
    cycle = await service.invitations.activate_invite(top.id, bottom.invite_code)
    assert cycle.outcome is InviteOutcome.CYCLE


@pytest.mark.parametrize("run", range(10))
async def test_erasure_racing_an_activation_of_the_members_code(
    service: ReferralService, run: int
) -> None:
    owner, newcomer = await join(service), await join(service)
    activation, erased = await asyncio.gather(
        service.invitations.activate_invite(newcomer.id, owner.invite_code),
        service.privacy.erase_member(owner.id),
    )
    assert erased
    profile = await service.members.profile(newcomer.id)
    assert profile is not None
    if activation.outcome is InviteOutcome.ACTIVATED:
        assert profile.member.inviter_id == owner.id  # recorded before the erasure
    else:
        assert activation.outcome is InviteOutcome.UNKNOWN
        assert profile.member.inviter_id is None
    async with service.connections.acquire() as connection:
        counted = await connection.fetchval(
            "SELECT coalesce(sum(referrals), 0) FROM referral_counts WHERE member_id = $1",
            owner.id,
        )
    assert counted == (1 if activation.outcome is InviteOutcome.ACTIVATED else 0)


@pytest.mark.parametrize("run", range(10))
async def test_erasure_racing_the_members_own_activation(
    service: ReferralService, run: int
) -> None:
    inviter, member = await join(service), await join(service)
    activation, erased = await asyncio.gather(
        service.invitations.activate_invite(member.id, inviter.invite_code),
        service.privacy.erase_member(member.id),
    )
    assert erased
    async with service.connections.acquire() as connection:
        row = await connection.fetchrow(
            "SELECT phone, inviter_id, invited_at FROM members WHERE id = $1", member.id
        )
        counted = await connection.fetchval(
            "SELECT coalesce(sum(referrals), 0) FROM referral_counts WHERE member_id = $1",
            inviter.id,
        )
    assert row["phone"] is None
    if activation.outcome is InviteOutcome.ACTIVATED:  # before the erasure: kept, anonymised
        assert row["inviter_id"] == inviter.id and counted == 1
    else:
        assert activation.outcome is InviteOutcome.MEMBER_NOT_FOUND
        assert row["inviter_id"] is None and row["invited_at"] is None and counted == 0


async def test_the_phone_coming_back_is_a_new_member(service: ReferralService) -> None:
    phone = new_phone()
    first = await join(service, phone)
    await service.privacy.erase_member(first.id)
    again = await join(service, phone)
    assert again.id != first.id and again.invite_code != first.invite_code
    assert again.inviter_id is None
