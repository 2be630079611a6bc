"""An operator's system receiving the program's events, as its own process for the bench:
`python -m bench.events_receiver PORT SECRET`. POST /events checks the signature and keeps, per
event, the delay from its `created_at` (the commit) to its arrival; GET /stats answers them."""

import hashlib
import hmac
import json
import sys
import time
from datetime import datetime

from aiohttp import web

arrivals: dict[str, float] = {}  # event id -> seconds from created_at to arrival
forged = 0


def verified(secret: bytes, body: bytes, header: str) -> bool:
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret, f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def create_app(secret: bytes) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        global forged
        body = await request.read()
        now = time.time()
        if not verified(secret, body, request.headers["X-Referral-Signature"]):
            forged += 1
            return web.Response(status=401)
        event = json.loads(body)
        created = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00")).timestamp()
        arrivals.setdefault(event["id"], now - created)
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"delays": list(arrivals.values()), "forged": forged})

    async def reset(request: web.Request) -> web.Response:
        arrivals.clear()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/events", receive)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


if __name__ == "__main__":
    web.run_app(
        create_app(sys.argv[2].encode()),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
    )
