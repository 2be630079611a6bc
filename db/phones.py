"""Phone numbers: free-form input to E.164, and how a phone is shown to anybody but its owner
(`PhoneDisplay`, the one place that decides it; front ends show what it returns)."""

import re
from functools import lru_cache

import phonenumbers


def normalise_phone(raw: str, default_region: str) -> str | None:
    """E.164 form of `raw`, or None when it is not a possible number for its region."""
    text = raw.strip()
    candidates = [text]
    # A Telegram contact carries the country code, often without the "+".
    if text.isdigit():
        candidates.append("+" + text)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _stored(e164: str) -> phonenumbers.PhoneNumber:
    """The number of a stored E.164 phone, split without `phonenumbers.parse` (which costs more
    than the formatting after it): country codes are prefix-free, the rest is the national
    number, whose leading zeros (Italy's) the number keeps as `parse` does."""
    digits = e164.removeprefix("+")
    for size in (1, 2, 3):
        country_code = int(digits[:size])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            zeros = len(national) - len(national.lstrip("0"))
            return phonenumbers.PhoneNumber(
                country_code=country_code,
                national_number=int(national),
                italian_leading_zero=True if zeros else None,
                number_of_leading_zeros=zeros if zeros > 1 else None,
            )
    return phonenumbers.parse(e164)  # not a stored phone: let the library say what it is


@lru_cache(maxsize=4096)  # ~1 MB; formatting a number costs ~0.03 ms
def mask_phone(e164: str) -> str:
    """`+79123456789` -> `+7 912 ***-**-89`: the country code, first group and last two digits.

    Popular inviters' phones are masked in every activation that names them, hence the cache."""
    shown = phonenumbers.format_number(_stored(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    country, _, national = shown.partition(" ")
    first_group, sep, rest = re.match(r"(\d+)(\D?)(.*)", national).groups()  # type: ignore[union-attr]
    if len(first_group) > 4:  # an unformatted number: show its first three digits
        first_group, sep, rest = national[:3], " ", national[3:]
    digits_left = sum(ch.isdigit() for ch in rest)
    masked = []
    for ch in rest:
        if ch.isdigit():
            digits_left -= 1
            masked.append(ch if digits_left < 2 else "*")
        else:
            masked.append(ch)
    return f"{country} {first_group}{sep}{''.join(masked)}"


class PhoneDisplay:
    """How phones are shown to members: an inviter sees their referrals' phones (and the
    leaderboard's) as REFERRAL_PHONE_VISIBILITY says, masked unless `full`; every other phone a
    member is shown is masked. Operators see full phones; logs only masked ones."""

    def __init__(self, *, full_referrals: bool = False) -> None:
        self.full_referrals = full_referrals

    def referral(self, phone: str | None) -> str | None:
        """A phone as an inviter sees it among their referrals (and on the leaderboard); None for
        an erased member."""
        if phone is None:
            return None
        return phone if self.full_referrals else mask_phone(phone)

    def masked(self, phone: str) -> str:
        """A phone always masked: an inviter's as the member they invited sees it, the member's
        own in their profile, a referral's in the member's data download."""
        return mask_phone(phone)
