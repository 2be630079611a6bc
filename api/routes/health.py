"""GET /healthz: whether this process can reach its database."""

import logging

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import ServiceDep
from api.messages import say
from api.models import HealthStatus
from api.replies import answer, refusal
from db.connections import DatabaseUnavailable

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

TIMEOUT = 2.0  # seconds; a probe must answer before the orchestrator's own timeout
DATABASE_UNAVAILABLE = "api-health-unavailable"  # catalog id (locales/)


@router.get("/healthz", include_in_schema=False)
async def health(service: ServiceDep) -> Response:
    try:
        await service.ping(timeout=TIMEOUT)
    except DatabaseUnavailable:
        return refusal(503, say(DATABASE_UNAVAILABLE))  # the service logs each outage once
    except Exception as error:  # whatever the cause, the answer is "not healthy"
        log.warning("health check failed: %r", error)
        return refusal(503, say(DATABASE_UNAVAILABLE))
    return answer(200, HealthStatus())
