"""The operators' API for referral stages under /api/admin/referrals/: the pending ones, a page
at a time, and qualifying or reversing one (for QUALIFY=manual or external, and for any
operator's system with ADMIN_API_TOKEN). The rules are the service's (db/referrals.py); each
outcome maps to a status here."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.deps import ServiceDep
from api.errors import describe_invalid_request
from api.messages import english, say
from api.models import AdminPendingReferral, AdminPendingReferrals, AdminReferral, StageRequest
from api.openapi import COMMON_ERRORS, documented_error
from api.replies import answer, refusal
from api.routes.admin import NOT_AN_OPERATOR, OperatorId
from api.routing import ADMIN_PREFIX
from db.results import StageChange, StageOutcome

router = APIRouter(prefix=ADMIN_PREFIX, tags=["admin"])

# Messages, by their catalog id (locales/).
NO_REFERRAL = "api-admin-no-referral"
STAGE_REFUSED = {
    StageOutcome.QUALIFIED_ALREADY: "api-admin-referral-qualified",
    StageOutcome.REVERSED_ALREADY: "api-admin-referral-reversed",
    StageOutcome.FINAL: "api-admin-referral-final",
}
NO_SUCH_REFERRAL = documented_error(
    "No referral of this member (they joined with no code), or not an operator.",
    no_referral=english(NO_REFERRAL),
)
REFUSED = documented_error(
    "The referral's stage does not allow it (already qualified, already reversed).",
    qualified_already=english(STAGE_REFUSED[StageOutcome.QUALIFIED_ALREADY]),
    reversed_already=english(STAGE_REFUSED[StageOutcome.REVERSED_ALREADY]),
    final=english(STAGE_REFUSED[StageOutcome.FINAL]),
)
STAGE_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": StageRequest.model_json_schema()}},
    }
}


@router.get(
    "/referrals/",
    operation_id="adminPendingReferrals",
    summary="The pending referrals, in order of the invitee's id (keyset pages)",
    response_model=AdminPendingReferrals,
    responses={404: NOT_AN_OPERATOR, **COMMON_ERRORS},
)
async def pending_referrals(
    operator: OperatorId,
    service: ServiceDep,
    stage: Annotated[Literal["pending"], Query(description="Only `pending` is listed.")],
    after: Annotated[int, Query(ge=0, description="`next` of the previous page.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    page = await service.referrals.pending(after=after, limit=limit)
    return answer(
        200,
        AdminPendingReferrals(
            referrals=[
                AdminPendingReferral(
                    member_id=r.invitee_id,
                    invite_code=r.invitee_code,
                    inviter_id=r.inviter_id,
                    inviter_code=r.inviter_code,
                    waits_for=r.waits_for,
                    activated_at=r.activated_at,
                    due_at=r.due_at,
                )
                for r in page.referrals
            ],
            next=page.next_after,
        ),
    )


async def _reason(request: Request) -> StageRequest | Response:
    """The optional body, read after the operator is known (a malformed body must not tell
    anybody else that the path exists)."""
    raw = await request.body()
    try:
        return StageRequest.model_validate_json(raw) if raw.strip() else StageRequest()
    except ValidationError as error:
        return refusal(400, describe_invalid_request(error.errors()))


def _reply(change: StageChange, member_id: int, stage: str) -> Response:
    if change.outcome is StageOutcome.NOT_FOUND:
        return refusal(404, say(NO_REFERRAL))
    if change.outcome in STAGE_REFUSED:
        return refusal(409, say(STAGE_REFUSED[change.outcome]))
    body = AdminReferral(
        member_id=member_id,
        inviter_id=change.inviter_id,
        stage=stage,
        inviter_referrals=change.inviter_referrals,
    )
    return answer(200, body)


STAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: documented_error('The body is not `{"reason": ...}`.'),
    404: NO_SUCH_REFERRAL,
    409: REFUSED,
    **COMMON_ERRORS,
}


@router.post(
    "/referrals/{member_id}/qualify/",
    operation_id="adminQualifyReferral",
    summary="Qualify a pending referral: it counts from now",
    response_model=AdminReferral,
    openapi_extra=STAGE_BODY,
    responses=STAGE_RESPONSES,
)
@router.post("/referrals/{member_id}/qualify", include_in_schema=False)
async def qualify_referral(
    member_id: int, request: Request, operator: OperatorId, service: ServiceDep
) -> Response:
    """For QUALIFY=manual or external; a referral that is not pending stays as it is (409)."""
    body = await _reason(request)
    if isinstance(body, Response):
        return body
    change = await service.referrals.qualify(
        member_id, reason=body.reason or "operator", operator=operator
    )
    return _reply(change, member_id, "qualified")


@router.post(
    "/referrals/{member_id}/reverse/",
    operation_id="adminReverseReferral",
    summary="Reverse a referral, pending or qualified: it no longer counts",
    response_model=AdminReferral,
    openapi_extra=STAGE_BODY,
    responses=STAGE_RESPONSES,
)
@router.post("/referrals/{member_id}/reverse", include_in_schema=False)
async def reverse_referral(
    member_id: int, request: Request, operator: OperatorId, service: ServiceDep
) -> Response:
    """An operator reverses a qualified referral at any time, its hold over or not."""
    body = await _reason(request)
    if isinstance(body, Response):
        return body
    change = await service.referrals.reverse(
        member_id, reason=body.reason or "operator", operator=operator
    )
    return _reply(change, member_id, "reversed")
