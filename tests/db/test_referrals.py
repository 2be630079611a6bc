import pytest

from db.service import ReferralService
from tests.conftest import Clock, join


async def _invite(service: ReferralService, clock: Clock, count: int) -> tuple[int, list[int]]:
    inviter = await join(service)
    joined = []
    for _ in range(count):
        member = await join(service)
        clock.advance(1)
        await service.activate_invite(member.id, inviter.invite_code)
        joined.append(member.id)
    return inviter.id, joined


async def test_empty_list(service: ReferralService) -> None:
    member = await join(service)
    page = await service.referrals_page(member.id)
    assert page.referrals == [] and page.total == 0
    assert page.next_cursor is None and page.previous_cursor is None


async def test_pages_follow_activation_order_to_the_last_page(
    service: ReferralService, clock: Clock
) -> None:
    inviter, joined = await _invite(service, clock, 7)
    first = await service.referrals_page(inviter, limit=3)
    assert [r.member_id for r in first.referrals] == joined[:3]
    assert first.total == 7 and first.previous_cursor is None and first.next_cursor
    second = await service.referrals_page(inviter, after=first.next_cursor, limit=3)
    assert [r.member_id for r in second.referrals] == joined[3:6]
    assert second.next_cursor and second.previous_cursor
    last = await service.referrals_page(inviter, after=second.next_cursor, limit=3)
    assert [r.member_id for r in last.referrals] == joined[6:]
    assert last.next_cursor is None and last.previous_cursor
    back = await service.referrals_page(inviter, before=last.previous_cursor, limit=3)
    assert back.referrals == second.referrals
    assert back.next_cursor == second.next_cursor
    assert back.previous_cursor == second.previous_cursor
    front = await service.referrals_page(inviter, before=back.previous_cursor, limit=3)
    assert front.referrals == first.referrals and front.previous_cursor is None


async def test_exactly_full_last_page_has_no_next(service: ReferralService, clock: Clock) -> None:
    inviter, _ = await _invite(service, clock, 4)
    first = await service.referrals_page(inviter, limit=2)
    last = await service.referrals_page(inviter, after=first.next_cursor, limit=2)
    assert len(last.referrals) == 2 and last.next_cursor is None


async def test_activations_at_the_same_moment_are_paged_without_loss(
    service: ReferralService,
) -> None:
    inviter = await join(service)
    joined = [await join(service) for _ in range(5)]
    for member in joined:  # the test clock stands still: all five share one invited_at
        await service.activate_invite(member.id, inviter.invite_code)
    seen, cursor = [], None
    while True:
        page = await service.referrals_page(inviter.id, after=cursor, limit=2)
        seen += [r.member_id for r in page.referrals]
        if not (cursor := page.next_cursor):
            break
    assert seen == [member.id for member in joined]


async def test_phones_are_masked_unless_configured(service: ReferralService) -> None:
    inviter, member = await join(service), await join(service, "+79123456789")
    await service.activate_invite(member.id, inviter.invite_code)
    assert (await service.referrals_page(inviter.id)).referrals[0].phone == "+7 912 ***-**-89"
    service.show_full_phones = True
    assert (await service.referrals_page(inviter.id)).referrals[0].phone == "+79123456789"


@pytest.mark.parametrize(
    "cursor", ["", "zz", "1.", "x.y", "ffffffffffffffffffffff.1", "1.ffffffffffffffffffff", "1.0"]
)
async def test_foreign_cursor_is_a_value_error(service: ReferralService, cursor: str) -> None:
    member = await join(service)
    with pytest.raises(ValueError):
        await service.referrals_page(member.id, after=cursor)
