"""Property-based fuzzing from the OpenAPI document: no 5xx, and every answer as documented.

Schemathesis calls the app from its own event loop thread, so the app here has no pool: each
request opens its connection in the loop that uses it. The operations are walked with
`get_all_operations()` and Hypothesis directly: schemathesis' fixture-based pytest integration
reads a pytest node attribute that pytest 9 no longer has.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy.ext.asyncio import AsyncEngine

from api import create_app
from api.state import state_of
from api.tokens import AccessTokens
from db.connections import asyncpg_dsn
from db.service import ReferralService
from delivery import ChatDelivery
from tests.api.conftest import SECRET, TTL, api_settings
from tests.conftest import join

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


class ConnectionPerUse:
    """A new connection for every use, in whichever event loop asks for it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        connection = await asyncpg.connect(self.dsn)
        try:
            yield connection
        finally:
            await connection.close()

    async def expire_connections(self) -> None:
        """Nothing is kept."""


@pytest.fixture
async def fuzzed_app(
    database_url: str, clean_engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[FastAPI]:
    """The API over the test database (`clean_engine` empties it first)."""
    service = ReferralService(
        ConnectionPerUse(asyncpg_dsn(database_url)),
        signing_key=b"fuzz",
        delivery=ChatDelivery(delay=0),
    )
    settings = api_settings(tmp_path, api_address_hourly_limit=10**6, bot_token="42:FUZZ")
    yield create_app(settings, service)


@pytest.fixture
async def member_token(fuzzed_app: FastAPI) -> str:
    service = state_of(fuzzed_app).service
    member, referral = await join(service), await join(service)
    await service.invitations.activate_invite(referral.id, member.invite_code)
    return AccessTokens(SECRET.encode(), TTL).issue(member.id)


@pytest.fixture
def api_schema(fuzzed_app: FastAPI, member_token: str) -> OpenApiSchema:
    """The document as served, calling the app as a member; the token is not fuzzed (checks
    send requests without it), and neither are query parameters the document does not name."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", fuzzed_app)
    schema.config.update(headers={"Authorization": f"Bearer {member_token}"})
    schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
    return schema


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_documented_and_none_is_a_server_error(
    api_schema: OpenApiSchema, mode: GenerationMode
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 24  # the 11 admin ones answer this member 404, as documented
    if mode is GenerationMode.NEGATIVE:  # only what takes input can be given wrong input
        operations = [operation for operation in operations if any(operation.iter_parameters())]
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not (operation.body or operation.query):
            continue  # nothing a client sends can be malformed (DELETE, the export)

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case: Case) -> None:
            case.call_and_validate(checks=CHECKS)

        answers_as_documented()
