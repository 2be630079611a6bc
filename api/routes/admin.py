"""The operators' API under /api/admin/: figures, member lookup and card, block and unblock, the
CSV export. An operator is a member whose linked Telegram account is in ADMIN_IDS, checked on
every request; to anybody else every path here answers exactly as an unknown path does (404),
whatever the method, token or body.
"""

import asyncio
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from api.deps import MaybeMemberId, ServiceDep
from api.errors import describe_invalid_request
from api.messages import english, say
from api.models import (
    AdminDay,
    AdminEvents,
    AdminInviter,
    AdminMember,
    AdminMembers,
    AdminStats,
    BlockRequest,
    EventsRequeued,
)
from api.openapi import COMMON_ERRORS, documented_error
from api.replies import answer, refusal
from api.routing import ADMIN_PREFIX, slash_optional
from db.results import BlockChange, BlockOutcome, MemberCard

router = APIRouter(prefix=ADMIN_PREFIX, tags=["admin"])

# Messages, by their catalog id (locales/).
BAD_QUERY = "api-admin-bad-query"
NO_MEMBER = "api-admin-no-member"
ALREADY_BLOCKED = "api-admin-already-blocked"
NOT_BLOCKED = "api-admin-not-blocked"
EXPORT_BUSY = "api-admin-export-busy"
EXPORT_QUEUE = 16  # chunks of COPY (~64 KiB each) waiting for a slow client, at most

NOT_AN_OPERATOR = documented_error(
    "Not an operator (no token, or a member whose Telegram account is not in ADMIN_IDS): the "
    "same answer as for a path that does not exist.",
    not_found=english("api-not-found", path="/api/admin/stats/"),
)
NO_SUCH_MEMBER = documented_error(
    "No member with this id (or they erased their data).", no_member=english(NO_MEMBER)
)


async def operator_account(member_id: MaybeMemberId, service: ServiceDep) -> int:
    """The operator's Telegram id; 404 (as for an unknown path) for anybody else."""
    if member_id is not None:
        operator = await service.operators.operator_account(member_id)
        if operator is not None:
            return operator
    raise HTTPException(404, HTTPStatus.NOT_FOUND.phrase)


OperatorId = Annotated[int, Depends(operator_account)]


def member_body(card: MemberCard) -> AdminMember:
    return AdminMember(
        id=card.id,
        phone=card.phone,
        invite_code=card.invite_code,
        telegram_id=card.telegram_id,
        inviter_code=card.inviter_code,
        referrals=card.referrals,
        joined_at=card.joined_at,
        last_login_at=card.last_login_at,
        language=card.language,
        status="blocked" if card.blocked_at is not None else "active",
        blocked_at=card.blocked_at,
        blocked_by=card.blocked_by,
        block_reason=card.block_reason,
    )


@slash_optional(
    router,
    "/stats",
    method="GET",
    operation_id="adminStats",
    summary="The program's figures: members, joins, invited share, top inviters, 30 days",
    response_model=AdminStats,
    responses={404: NOT_AN_OPERATOR, **COMMON_ERRORS},
)
async def read_stats(operator: OperatorId, service: ServiceDep) -> Response:
    """Read from counters the program keeps, so it answers in milliseconds at any size."""
    stats = await service.operators.stats(operator=operator)
    body = AdminStats(
        as_of=stats.at,
        members=stats.members,
        joined_today=stats.joined_today,
        joined_7_days=stats.joined_7_days,
        joined_30_days=stats.joined_30_days,
        invited=stats.invited,
        invited_share=round(stats.invited_share, 4),
        blocked=stats.blocked,
        top_inviters=[
            AdminInviter(member_id=i.member_id, phone=i.phone, referrals=i.referrals)
            for i in stats.top_inviters
        ],
        days=[AdminDay(day=d.day, joined=d.joined, activated=d.activated) for d in stats.days],
    )
    return answer(200, body)


@slash_optional(
    router,
    "/members",
    method="GET",
    operation_id="adminFindMembers",
    summary="Find members by phone, invite code or Telegram id",
    response_model=AdminMembers,
    responses={
        400: documented_error("The query is none of the three.", bad_query=english(BAD_QUERY)),
        404: NOT_AN_OPERATOR,
        **COMMON_ERRORS,
    },
)
async def find_members(
    operator: OperatorId,
    service: ServiceDep,
    q: Annotated[
        str,
        Query(
            max_length=64,
            description="A phone in any form, an invite code (any case) or a Telegram id.",
        ),
    ] = "",
) -> Response:
    """Several members may match one query (a number that is one member's phone and another's
    Telegram id); none is an empty list."""
    found = await service.operators.find_members(q, operator=operator)
    if not found.kinds:
        return refusal(400, say(BAD_QUERY))
    return answer(200, AdminMembers(members=[member_body(card) for card in found.members]))


@slash_optional(
    router,
    "/members/{member_id}",
    method="GET",
    operation_id="adminReadMember",
    summary="A member's card: full phone, codes, referrals, times, language, status",
    response_model=AdminMember,
    responses={
        404: {**NO_SUCH_MEMBER, "description": "No such member, or not an operator."},
        **COMMON_ERRORS,
    },
)
async def read_member(member_id: int, operator: OperatorId, service: ServiceDep) -> Response:
    card = await service.operators.member_card(member_id, operator=operator)
    if card is None:
        return refusal(404, say(NO_MEMBER))
    return answer(200, member_body(card))


def change_reply(change: BlockChange, unchanged_message: str) -> Response:
    if change.outcome is BlockOutcome.NOT_FOUND or change.card is None:
        return refusal(404, say(NO_MEMBER))
    if change.outcome is BlockOutcome.UNCHANGED:
        return refusal(409, say(unchanged_message))
    return answer(200, member_body(change.card))


BLOCK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": BlockRequest.model_json_schema()}},
    }
}


@router.post(
    "/members/{member_id}/block/",
    operation_id="adminBlockMember",
    summary="Block a member: they cannot register a code, and their code is suspended",
    response_model=AdminMember,
    openapi_extra=BLOCK_BODY,
    responses={
        400: documented_error('The body is not `{"reason": ...}`.'),
        404: {**NO_SUCH_MEMBER, "description": "No such member, or not an operator."},
        409: documented_error("Already blocked.", already=english(ALREADY_BLOCKED)),
        **COMMON_ERRORS,
    },
)
@router.post("/members/{member_id}/block", include_in_schema=False)
async def block_member(
    member_id: int, request: Request, operator: OperatorId, service: ServiceDep
) -> Response:
    """Who they invited stays; the block, the operator, the time and the reason go into the
    audit log in the same transaction. The body is optional."""
    # Read here, after the operator is known: a malformed body must not tell anybody else that
    # this path exists.
    raw = await request.body()
    try:
        body = BlockRequest.model_validate_json(raw) if raw.strip() else BlockRequest()
    except ValidationError as error:
        return refusal(400, describe_invalid_request(error.errors()))
    change = await service.operators.block(member_id, operator=operator, reason=body.reason)
    return change_reply(change, ALREADY_BLOCKED)


@slash_optional(
    router,
    "/members/{member_id}/unblock",
    method="POST",
    operation_id="adminUnblockMember",
    summary="Unblock a member: everything works for them again",
    response_model=AdminMember,
    responses={
        404: {**NO_SUCH_MEMBER, "description": "No such member, or not an operator."},
        409: documented_error("Not blocked.", not_blocked=english(NOT_BLOCKED)),
        **COMMON_ERRORS,
    },
)
async def unblock_member(member_id: int, operator: OperatorId, service: ServiceDep) -> Response:
    change = await service.operators.unblock(member_id, operator=operator)
    return change_reply(change, NOT_BLOCKED)


@slash_optional(
    router,
    "/events",
    method="GET",
    operation_id="adminEvents",
    summary="Outbound events waiting for delivery, and given up",
    response_model=AdminEvents,
    responses={404: NOT_AN_OPERATOR, **COMMON_ERRORS},
)
async def read_events(operator: OperatorId, service: ServiceDep) -> Response:
    counts = await service.events.counts()
    return answer(200, AdminEvents(pending=counts.pending, failed=counts.failed))


@slash_optional(
    router,
    "/events/retry",
    method="POST",
    operation_id="adminRetryEvents",
    summary="Try the failed outbound events again, for another 24 hours",
    response_model=EventsRequeued,
    responses={404: NOT_AN_OPERATOR, **COMMON_ERRORS},
)
async def retry_events(operator: OperatorId, service: ServiceDep) -> Response:
    requeued = await service.events.requeue_failed(operator=operator)
    return answer(200, EventsRequeued(requeued=requeued))


@router.get(
    "/export.csv",
    operation_id="adminExportMembers",
    summary="Every member as CSV, streamed",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "UTF-8, a header row: id, phone, invite_code, inviter_code, "
            "invited_at, referrals, joined_at, last_login_at, language, status (times in UTC).",
        },
        404: NOT_AN_OPERATOR,
        409: documented_error("Another export is running.", busy=english(EXPORT_BUSY)),
        **COMMON_ERRORS,
    },
)
async def export_members(operator: OperatorId, service: ServiceDep) -> Response:
    """Streamed from PostgreSQL's COPY as the client reads it: memory stays bounded, and a
    client that stops reading holds the export back (up to 10 minutes). One export at a time."""
    chunks: asyncio.Queue[bytes] = asyncio.Queue(EXPORT_QUEUE)
    started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def take(chunk: bytes) -> None:
        if not started.done():
            started.set_result(True)
        await chunks.put(bytes(chunk))  # asyncpg hands over a buffer it reuses

    async def run() -> None:
        try:
            export = await service.operators.export_members(take, operator=operator)
        except BaseException as error:
            if not started.done():
                started.set_exception(error)
            raise
        if not started.done():
            started.set_result(not export.busy)

    exporting = asyncio.create_task(run())
    try:
        ready = await started
    except BaseException:
        exporting.cancel()
        raise
    if not ready:
        return refusal(409, say(EXPORT_BUSY))
    name = f"members-{service.now():%Y%m%d-%H%M}.csv"
    return StreamingResponse(
        streamed(chunks, exporting),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def streamed(
    chunks: asyncio.Queue[bytes], exporting: asyncio.Task[None]
) -> AsyncIterator[bytes]:
    """The chunks as COPY hands them over, until it ends; if the client goes away, the export
    is cancelled (and its connection with it)."""
    try:
        while True:
            taking = asyncio.ensure_future(chunks.get())
            await asyncio.wait({taking, exporting}, return_when=asyncio.FIRST_COMPLETED)
            if taking.done():
                yield taking.result()
                continue
            taking.cancel()
            while not chunks.empty():
                yield chunks.get_nowait()
            exporting.result()  # an error of the export ends the answer here, cut short
            return
    finally:
        if not exporting.done():
            exporting.cancel()
