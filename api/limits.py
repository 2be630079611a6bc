"""Abuse limits of the API itself, on top of the service's per-phone limits: the size of request
bodies here; requests per client address are counted in the database (db/addresses.py), once for
every process of the program, by `api.deps.count_address_request`.
"""

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.messages import say
from api.replies import refusal

MAX_BODY_BYTES = 1024 * 1024
BODY_TOO_LARGE = "api-body-too-large"  # catalog id (locales/)


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
