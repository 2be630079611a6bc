"""Verification codes (digits, kept as a keyed hash) and invite codes (6 unambiguous characters)."""

import hashlib
import hmac
import secrets

INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
INVITE_LENGTH = 6
INVITE_CODE_SHAPE = f"{INVITE_LENGTH} characters: letters A-Z and digits 2-9, without 0, O, 1 and I"


def new_verification_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def hash_verification_code(key: bytes, phone: str, code: str) -> bytes:
    """HMAC of the code, bound to the phone so that one phone's hash says nothing of another's."""
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).digest()


def code_matches(key: bytes, phone: str, code: str, stored_hash: bytes) -> bool:
    """Constant-time comparison of a typed code with the stored hash."""
    return hmac.compare_digest(hash_verification_code(key, phone, code.strip()), stored_hash)


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_LENGTH))


def clean_invite_code(raw: str) -> str:
    """The form invite codes are stored in: stripped and upper-case."""
    return raw.strip().upper()


def is_invite_code(code: str) -> bool:
    """Whether a cleaned code has the shape of an invite code (it may still belong to nobody)."""
    return len(code) == INVITE_LENGTH and all(ch in INVITE_ALPHABET for ch in code)
