"""The program's Prometheus series, in one registry, read by `GET /metrics`
(api/routes/metrics.py).

Counters are kept where things happen: updates by the bot's middleware, requests by the API's,
codes and activations by the service. The outbox and the pool are read at scrape time. No series
has a per-person label.

With several server processes in one instance, prometheus_client's multiprocess mode applies:
runtime/workers.py sets PROMETHEUS_MULTIPROC_DIR (an empty folder per start) before the first
series exists, and `exposition()` adds up the values every process wrote there.
"""

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

UPDATES = Counter(
    "referral_updates",
    "Telegram updates handled, by type and outcome (handled, unhandled, error).",
    ["type", "outcome"],
    registry=REGISTRY,
)
UPDATE_SECONDS = Histogram(
    "referral_update_handling_seconds",
    "Time to handle a Telegram update, by type.",
    ["type"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "referral_api_requests",
    "HTTP requests, by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
API_SECONDS = Histogram(
    "referral_api_request_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CODE_REQUESTS = Counter(
    "referral_code_requests",
    "Verification codes asked for, by outcome (sent, cooldown, hourly_limit, ...).",
    ["outcome"],
    registry=REGISTRY,
)
CODE_CHECKS = Counter(
    "referral_code_checks",
    "Verification codes checked, by outcome (verified, wrong_code, expired, ...).",
    ["outcome"],
    registry=REGISTRY,
)
ACTIVATIONS = Counter(
    "referral_activations",
    "Invite code activations, by outcome (activated, unknown, cycle, ...).",
    ["outcome"],
    registry=REGISTRY,
)
EVENTS_PENDING = Gauge(
    "referral_events_pending",
    "Outbound events waiting for delivery or their next try (all instances).",
    registry=REGISTRY,
    multiprocess_mode="max",
)
EVENTS_FAILED = Gauge(
    "referral_events_failed",
    "Outbound events given up after the retry period (all instances).",
    registry=REGISTRY,
    multiprocess_mode="max",
)
EVENTS_DELIVERED = Counter(
    "referral_events_delivered",
    "Outbound events delivered by this instance.",
    registry=REGISTRY,
)
DATABASE_CONNECTIONS = Gauge(
    "referral_database_connections",
    "Connections of this process's pool, by state (in_use, idle).",
    ["state"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)


def exposition() -> bytes:
    """The text format of every series (of every process, in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestMetrics:
    """ASGI middleware: each HTTP request counted and timed by its route template (`/api/admin/
    members/{member_id}/`, never the raw path), method and status."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", "unmatched")
            method = scope["method"]
            API_REQUESTS.labels(template, method, str(status)).inc()
            API_SECONDS.labels(template, method).observe(time.perf_counter() - started)
