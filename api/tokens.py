"""JWT access tokens of the API: HS256 over the server secret, naming the member in `sub`.

A token's signature is verified once per process: the member and the expiry of the last
`cache_size` tokens seen are remembered (a decode costs ~50 µs, a sixth of a whole `GET
/api/data/`). Only what the token itself says is remembered: whether its member still exists is
read by each route's own statement, so an erased member's token is refused at once, in every
process."""

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
    def __init__(
        self,
        key: bytes,
        ttl: int,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = 10_000,
    ) -> None:
        self._key = key
        self.ttl = ttl
        self._clock = clock
        self.cache_size = cache_size
        self._verified: dict[str, tuple[int, int]] = {}  # token: (member id, exp), oldest first

    @property
    def cached(self) -> int:
        """Verified tokens remembered."""
        return len(self._verified)

    def issue(self, member_id: int) -> str:
        now = int(self._clock())
        claims = {"sub": str(member_id), "iat": now, "exp": now + self.ttl}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def member_id(self, token: str) -> int:
        """The member a token was issued to; raises InvalidToken."""
        known = self._verified.get(token)
        if known is not None:
            member_id, expires = known
            if self._clock() < expires:  # as PyJWT decides: expired from `exp` on
                return member_id
            del self._verified[token]
            raise InvalidToken("api-token-expired")
        member_id, expires = self._verify(token)
        if len(self._verified) >= self.cache_size:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (member_id, expires)
        return member_id

    def _verify(self, token: str) -> tuple[int, int]:
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
        return member_id, int(claims["exp"])
