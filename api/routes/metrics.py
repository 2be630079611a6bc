"""GET /metrics: the program's series in Prometheus's text format (metrics.py), for a scraper;
with METRICS_TOKEN set, only for a request that brings it as a Bearer token."""

import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import StateDep
from api.messages import say
from api.replies import refusal
from metrics import CONTENT_TYPE, DATABASE_CONNECTIONS, EVENTS_FAILED, EVENTS_PENDING, exposition

log = logging.getLogger(__name__)

router = APIRouter()

UNAUTHORIZED = "api-metrics-unauthorized"  # catalog id (locales/)


@router.get("/metrics", include_in_schema=False)
async def read_metrics(request: Request, state: StateDep) -> Response:
    service, token = state.service, state.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return refusal(401, say(UNAUTHORIZED), headers={"WWW-Authenticate": "Bearer"})
    try:
        counts = await service.events.counts()
    except Exception as error:  # the rest is still worth scraping during an outage
        log.warning("metrics: the outbox could not be read: %s", error)
    else:
        EVENTS_PENDING.set(counts.pending)
        EVENTS_FAILED.set(counts.failed)
    pool = service.connections
    if hasattr(pool, "get_size") and hasattr(pool, "get_idle_size"):
        idle = pool.get_idle_size()
        DATABASE_CONNECTIONS.labels("in_use").set(pool.get_size() - idle)
        DATABASE_CONNECTIONS.labels("idle").set(idle)
    return Response(exposition(), media_type=CONTENT_TYPE)
