"""`create_service`: each setting of the program reaches the service it builds."""

import asyncpg
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from db.results import CodeRequestOutcome
from db.service import create_service
from delivery import LogDelivery
from settings import Settings
from tests.conftest import join

KEY = SecretStr("create-service-test-secret-key-0123456789")


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, secret_key=KEY, code_chat_delay=0, **values)


async def test_settings_reach_the_service(clean_engine: AsyncEngine, pool: asyncpg.Pool) -> None:
    service = create_service(
        pool,
        settings(
            code_delivery="chat",
            default_region="GB",
            code_length=6,
            code_ttl=600,
            code_resend_cooldown=0,
            code_hourly_limit=2,
            referral_phone_visibility="full",
        ),
    )
    first = await service.members.request_code("07700 900123")
    assert first.outcome is CodeRequestOutcome.SENT and first.phone == "+447700900123"
    assert first.code is not None and len(first.code) == 6 and first.expires_in == 600
    second = await service.members.request_code("07700 900123")  # no cooldown
    assert second.outcome is CodeRequestOutcome.SENT
    third = await service.members.request_code("+44 7700 900123")
    assert third.outcome is CodeRequestOutcome.HOURLY_LIMIT

    inviter = await join(service, "07700 900124")
    member = await join(service, "07700 900125")
    await service.invitations.activate_invite(member.id, inviter.invite_code)
    page = await service.invitations.referrals_page(inviter.id)
    assert [referral.phone for referral in page.referrals] == ["+447700900125"]
    assert service.delivery.shows_code


async def test_defaults_mask_phones_and_keep_codes_out_of_answers(
    clean_engine: AsyncEngine, pool: asyncpg.Pool
) -> None:
    service = create_service(pool, settings())
    assert isinstance(service.delivery, LogDelivery)
    request = await service.members.request_code("8 912 345-67-89")  # read in RU: a leading 8 is +7
    assert request.phone == "+79123456789" and request.code is None
    assert request.expires_in == 300 and request.retry_after == 60
    again = await service.members.request_code("+79123456789")
    assert again.outcome is CodeRequestOutcome.COOLDOWN
    assert service.phones.referral("+79123456789") == "+7 912 ***-**-89"
