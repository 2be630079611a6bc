"""Abuse limits of the API itself, on top of the service's per-phone limits: requests per client
address, and the size of request bodies.

The address counters live in this process: several API processes each count on their own, so the
effective limit is the setting times the number of processes. Memory stays bounded: each address
keeps at most `limit` timestamps, addresses idle for a whole window are forgotten, and past
`max_addresses` the least recently seen address is forgotten first.
"""

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.replies import refusal
from api.texts import say

HOUR = 3600.0
MAX_BODY_BYTES = 1024 * 1024
BODY_TOO_LARGE = "api-body-too-large"  # catalog id (locales/)


class AddressRateLimit:
    """At most `limit` requests per client address in any sliding window of `window` seconds."""

    def __init__(
        self,
        limit: int,
        *,
        window: float = HOUR,
        max_addresses: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock
        # Accepted request times per address, the most recently seen address last.
        self._requests: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._requests)

    def hit(self, address: str) -> int:
        """Count a request; 0 when it is allowed, else the seconds until one more would be."""
        now = self._clock()
        self._forget_idle(now)
        times = self._requests.setdefault(address, deque())
        self._requests.move_to_end(address)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return max(1, math.ceil(times[0] + self.window - now))
        times.append(now)
        return 0

    def _forget_idle(self, now: float) -> None:
        while self._requests:
            oldest = next(iter(self._requests.values()))
            if oldest and oldest[-1] > now - self.window and len(self) < self.max_addresses:
                return
            self._requests.popitem(last=False)


def _declared_length(scope: Scope) -> int:
    """The Content-Length of a request, 0 if absent or malformed (the server rejects those)."""
    declared = Headers(scope=scope).get("content-length", "")
    if not (declared.isascii() and declared.isdigit()):
        return 0
    # Thousands of digits would be slow to parse and are over any limit anyway.
    return int(declared) if len(declared) <= 18 else 2**63


class RequestBodyLimit:
    """ASGI middleware: a body over `max_bytes` is answered 413, whether its Content-Length says
    so up front or a chunked body grows past the limit while the route reads it."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            await refusal(413, say(BODY_TOO_LARGE, limit=self.max_bytes))(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read, so the HTTP error handler answers it.
                    raise HTTPException(413, say(BODY_TOO_LARGE, limit=self.max_bytes))
            return message

        await self.app(scope, limited_receive, send)
