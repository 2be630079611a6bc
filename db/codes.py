"""Verification codes (digits, kept as a keyed hash) and invite codes (6 unambiguous characters)."""

import hashlib
import hmac
import secrets
import unicodedata

INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
INVITE_LENGTH = 6
INVITE_CODE_SHAPE = f"{INVITE_LENGTH} characters: letters A-Z and digits 2-9, without 0, O, 1 and I"


def ascii_digits(text: str) -> str:
    """`text` with every decimal digit as its ASCII digit (Arabic-Indic, Devanagari, full-width
    and the rest: any keyboard's digits mean the same code) and full-width letters as ASCII ones,
    stripped of surrounding space."""
    text = unicodedata.normalize("NFKC", text.strip())
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def clean_verification_code(raw: str) -> str | None:
    """The typed code as ASCII digits, or None if it is not digits at all."""
    code = ascii_digits(raw)
    return code if code.isascii() and code.isdigit() else None


def new_verification_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def hash_verification_code(key: bytes, phone: str, code: str) -> bytes:
    """HMAC of the code, bound to the phone so that one phone's hash says nothing of another's."""
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).digest()


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


def clean_invite_code(raw: str) -> str:
    """The form invite codes are stored in: stripped, ASCII digits, upper-case."""
    return ascii_digits(raw).upper()


def is_invite_code(code: str) -> bool:
    """Whether a cleaned code has the shape of an invite code (it may still belong to nobody)."""
    return len(code) == INVITE_LENGTH and all(ch in INVITE_ALPHABET for ch in code)
