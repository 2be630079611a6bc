"""Outbound events: written with the change that causes them, delivered signed, at least once, in
order per member, through refusals, slow answers, outages and several instances."""

import json
from collections import defaultdict

import asyncpg
import pytest

from db.events import event_session_settings
from db.service import ReferralService
from tests.conftest import join
from tests.jobs.conftest import SECRET, PoolFactory, Receiver, delivery, until, verified


async def outbox_size(service: ReferralService) -> int:
    async with service.connections.acquire() as connection:
        count: int = await connection.fetchval("SELECT count(*) FROM outbox_events")
    return count


async def test_each_cause_emits_its_event_signed_as_documented(
    emitting: ReferralService, receiver: Receiver
) -> None:
    inviter = await join(emitting)
    friend = await join(emitting)
    await emitting.invitations.activate_invite(friend.id, inviter.invite_code)
    await emitting.operators.block(friend.id, operator=42, reason="spam")
    await emitting.operators.unblock(friend.id, operator=42)
    await emitting.privacy.erase_member(friend.id)
    async with delivery(emitting, receiver.url).running():
        events = await receiver.wait_for(6)
    assert receiver.bad_signatures == 0
    assert [event["type"] for event in events] == [
        "member.joined",
        "member.joined",
        "referral.activated",
        "member.blocked",
        "member.unblocked",
        "member.deleted",
    ]
    assert all(set(event) == {"id", "type", "created_at", "data"} for event in events)
    assert len({event["id"] for event in events}) == 6
    joined, activated, blocked = events[1]["data"], events[2]["data"], events[3]["data"]
    assert joined["member_id"] == friend.id and joined["invite_code"] == friend.invite_code
    assert "phone" not in joined  # only with EVENTS_INCLUDE_PHONES
    assert activated["inviter_id"] == inviter.id
    assert activated["inviter_code"] == inviter.invite_code
    assert activated["activated_at"].endswith("Z")
    assert blocked["operator_id"] == 42 and blocked["reason"] == "spam"
    assert events[5]["data"]["member_id"] == friend.id
    assert await outbox_size(emitting) == 0  # delivered events leave the outbox


async def test_phones_only_when_asked_for(
    emitting: ReferralService, events_pool: PoolFactory, clock: object, receiver: Receiver
) -> None:
    async with events_pool(1, phones=True) as pool:
        service = ReferralService(pool, signing_key=b"test-secret", delivery=emitting.delivery)
        member = await join(service)
        async with delivery(service, receiver.url).running():
            [event] = await receiver.wait_for(1)
    assert event["data"]["phone"] == member.phone


async def test_nothing_is_written_without_events_url(
    service: ReferralService, emitting: ReferralService
) -> None:
    inviter = await join(service)
    friend = await join(service)
    await service.invitations.activate_invite(friend.id, inviter.invite_code)
    assert await outbox_size(service) == 0


async def test_a_rolled_back_activation_emits_nothing(emitting: ReferralService) -> None:
    inviter = await join(emitting)
    friend = await join(emitting)
    before = await outbox_size(emitting)

    class Interrupted(Exception):
        pass

    with pytest.raises(Interrupted):
        async with emitting.connections.acquire() as connection, connection.transaction():
            await connection.fetchrow(
                "SELECT * FROM activate_invite($1, $2, now(), 16, 64, '{5}'::int[])",
                friend.id,
                inviter.invite_code,
            )
            written = await connection.fetchval("SELECT count(*) FROM outbox_events")
            assert written == before + 1  # the event was there, in the transaction
            raise Interrupted
    assert await outbox_size(emitting) == before
    assert (await emitting.members.profile(friend.id)).member.inviter_id is None  # type: ignore[union-attr]


async def test_refusals_and_slow_answers_delay_but_lose_nothing_and_keep_each_members_order(
    emitting: ReferralService, receiver: Receiver
) -> None:
    receiver.refuse_first = 5
    receiver.refuse_share = 0.3
    receiver.delay = 0.05
    inviter = await join(emitting)
    friends = [await join(emitting) for _ in range(8)]
    for friend in friends:
        await emitting.invitations.activate_invite(friend.id, inviter.invite_code)
        await emitting.operators.block(friend.id, operator=1)
        await emitting.operators.unblock(friend.id, operator=1)
    expected = 1 + len(friends) * 4 + 1  # and the inviter's first milestone, at 5
    async with delivery(emitting, receiver.url).running():
        events = await receiver.wait_for(expected)
    by_member: dict[int, list[str]] = defaultdict(list)
    seen = set()
    for event in events:
        if event["id"] not in seen:
            seen.add(event["id"])
            by_member[event["data"]["member_id"]].append(event["type"])
    for friend in friends:
        assert by_member[friend.id] == [
            "member.joined",
            "referral.activated",
            "member.blocked",
            "member.unblocked",
        ]


async def test_a_receiver_that_is_down_gets_everything_when_it_is_back(
    emitting: ReferralService, receiver: Receiver
) -> None:
    await receiver.stop()
    members = [await join(emitting) for _ in range(3)]
    async with delivery(emitting, receiver.url, first_retry=0.05).running():

        async def refused_twice() -> bool:
            async with emitting.connections.acquire() as connection:
                sql = "SELECT bool_and(attempts > 1) FROM outbox_events"
                return bool(await connection.fetchval(sql))

        await until(refused_twice)  # each event tried and refused at least twice
        await receiver.start()
        events = await receiver.wait_for(3)
    assert {event["data"]["member_id"] for event in events} == {m.id for m in members}


async def test_given_up_after_the_retry_period_then_requeued_by_an_operator(
    emitting: ReferralService, receiver: Receiver
) -> None:
    await receiver.stop()
    await join(emitting)
    async with delivery(emitting, receiver.url, retry_period=0).running():

        async def given_up() -> bool:
            return (await emitting.events.counts()).failed > 0

        await until(given_up)
    assert await emitting.events.counts() == (0, 1)
    await receiver.start()
    assert await emitting.events.requeue_failed(operator=42) == 1
    async with delivery(emitting, receiver.url).running():
        await receiver.wait_for(1)
    assert await emitting.events.counts() == (0, 0)


async def test_a_claim_of_a_killed_process_expires_and_another_delivers_it(
    emitting: ReferralService, receiver: Receiver
) -> None:
    await join(emitting)
    claimed = await emitting.events.claim(10, hold=0.3)  # then the process "dies"
    assert len(claimed) == 1
    async with delivery(emitting, receiver.url).running():
        [event] = await receiver.wait_for(1)
    assert event["id"] == claimed[0].id


async def test_two_instances_deliver_each_event_once(
    emitting: ReferralService, receiver: Receiver
) -> None:
    inviter = await join(emitting)
    for _ in range(60):
        friend = await join(emitting)
        await emitting.invitations.activate_invite(friend.id, inviter.invite_code)
    first = delivery(emitting, receiver.url, batch=7)
    second = delivery(emitting, receiver.url, batch=7)
    async with first.running(), second.running():
        await receiver.wait_for(125)  # 61 joins, 60 activations, milestones 5, 10, 25 and 50

        async def emptied() -> bool:
            return await outbox_size(emitting) == 0

        await until(emptied)
    assert len(receiver.ids()) == len(set(receiver.ids())) == 125


async def test_each_receiver_gets_every_event_and_a_dead_one_holds_back_only_itself(
    clean_engine: object, events_pool: PoolFactory, emitting: ReferralService, receiver: Receiver
) -> None:
    async with events_pool(2) as pool:
        service = ReferralService(pool, signing_key=b"test-secret", delivery=emitting.delivery)
        members = [await join(service) for _ in range(3)]
        dead = "http://127.0.0.1:9/events"  # nothing listens on the discard port
        async with delivery(service, receiver.url, dead).running():
            events = await receiver.wait_for(3)
        assert {event["data"]["member_id"] for event in events} == {m.id for m in members}
        counts = await service.events.counts()
    assert counts.pending == 3  # the dead receiver's, waiting for their next try


def test_the_readme_check_rejects_a_forged_body() -> None:
    body = json.dumps({"id": "x"}).encode()
    from jobs.events import signature

    header = signature(SECRET.encode(), body, 1_700_000_000)
    assert verified(body, header)
    assert not verified(body + b" ", header)
    assert not verified(body, header, secret="another")


async def test_session_settings_are_empty_without_receivers() -> None:
    assert event_session_settings(0, include_phones=True) == {}
    assert isinstance(asyncpg.Pool, type)


async def test_a_milestone_reached_is_an_event_once(
    emitting: ReferralService, receiver: Receiver
) -> None:
    inviter = await join(emitting)
    for _ in range(6):  # the fifth friend reaches the first milestone, the sixth none
        friend = await join(emitting)
        await emitting.invitations.activate_invite(friend.id, inviter.invite_code)
    async with delivery(emitting, receiver.url).running():
        events = await receiver.wait_for(1 + 6 * 2 + 1)
    [reached] = [event for event in events if event["type"] == "milestone.reached"]
    assert reached["data"]["member_id"] == inviter.id and reached["data"]["milestone"] == 5
    assert reached["data"]["invite_code"] == inviter.invite_code
