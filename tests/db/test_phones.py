import phonenumbers
import pytest

from db.phones import PhoneDisplay, _stored, mask_phone, normalise_phone
from db.service import ReferralService
from tests.conftest import join


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+7 (912) 345-67-89", "+79123456789"),
        ("89123456789", "+79123456789"),
        ("79123456789", "+79123456789"),
        ("+79123456789", "+79123456789"),
        ("+7 (123) 456-78-90", "+71234567890"),
        ("447911123456", "+447911123456"),  # a Telegram contact's number without "+"
    ],
)
def test_accepted_numbers_become_e164(raw: str, e164: str) -> None:
    assert normalise_phone(raw, "RU") == e164


@pytest.mark.parametrize("raw", ["+7 (123) 456-78-9", "", "   ", "abcd", "12", "+7912345678901234"])
def test_impossible_numbers_are_rejected(raw: str) -> None:
    assert normalise_phone(raw, "RU") is None


def test_default_region_reads_numbers_without_country_code() -> None:
    assert normalise_phone("07911 123456", "GB") == "+447911123456"
    assert normalise_phone("8 912 345 67 89", "RU") == "+79123456789"


def test_masked_phone_shows_country_first_group_and_last_two_digits() -> None:
    assert mask_phone("+79123456789") == "+7 912 ***-**-89"


def test_referrals_phones_are_shown_as_configured_every_other_phone_masked() -> None:
    masked, full = PhoneDisplay(), PhoneDisplay(full_referrals=True)
    assert masked.referral("+79123456789") == "+7 912 ***-**-89"
    assert full.referral("+79123456789") == "+79123456789"
    assert masked.referral(None) is None and full.referral(None) is None  # an erased member
    assert masked.masked("+79123456789") == full.masked("+79123456789") == "+7 912 ***-**-89"


async def test_spellings_of_one_number_are_one_member(service: ReferralService) -> None:
    first = await join(service, "89123456789")
    service.members.resend_cooldown = 0
    again = await join(service, "+7 912 345-67-89")
    once_more = await join(service, "79123456789")
    assert first.id == again.id == once_more.id
    assert first.phone == "+79123456789"


def test_masking_reads_stored_phones_as_the_library_does() -> None:
    """Every region's example numbers of every type, as stored (E.164), mask as if parsed."""
    numbers = {
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        for region in phonenumbers.SUPPORTED_REGIONS
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    }
    assert len(numbers) > 400
    for e164 in numbers:
        parsed = phonenumbers.parse(e164)
        assert _stored(e164) == parsed, e164
        assert mask_phone(e164).endswith(e164[-2:])
