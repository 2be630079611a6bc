"""JWT access tokens of the API: HS256 over the server secret, naming the member in `sub`."""

import time
from collections.abc import Callable

import jwt

ALGORITHM = "HS256"
LARGEST_MEMBER_ID = 2**63 - 1  # the members.id column is a bigint


class InvalidToken(Exception):
    """The token is expired, forged, malformed or names no member id; `message_id` (a catalog
    id, locales/) says which."""

    def __init__(self, message_id: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id


class AccessTokens:
    def __init__(self, key: bytes, ttl: int, *, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.ttl = ttl
        self._clock = clock

    def issue(self, member_id: int) -> str:
        now = int(self._clock())
        claims = {"sub": str(member_id), "iat": now, "exp": now + self.ttl}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def member_id(self, token: str) -> int:
        """The member a token was issued to; raises InvalidToken."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "iat", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("api-token-expired") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("api-token-invalid") from None
        subject = claims["sub"]
        if not (isinstance(subject, str) and subject.isascii() and subject.isdigit()):
            raise InvalidToken("api-token-invalid")
        if len(subject) > len(str(LARGEST_MEMBER_ID)):
            raise InvalidToken("api-token-invalid")
        member_id = int(subject)
        if not 0 < member_id <= LARGEST_MEMBER_ID:
            raise InvalidToken("api-token-invalid")
        return member_id
