"""The QR code of a member's invite link, `GET /api/data/qr.svg` (where the link points:
sharing.links), and the leaderboards, `GET /api/top/`."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import MemberId, ServiceDep, StateDep
from api.models import LeaderboardData, Leaderboards, LeaderEntry
from api.openapi import COMMON_ERRORS
from api.replies import answer
from api.routes.referrals import UNAUTHORIZED, member_gone
from api.routing import slash_optional
from db.results import Leaderboard
from sharing.qr import qr_svg

router = APIRouter(prefix="/api", tags=["referrals"])

QR_TITLE = "Invite link"


@router.get(
    "/data/qr.svg",
    operation_id="readInviteQrCode",
    summary="A QR code of the member's invite link",
    response_class=Response,
    responses={
        200: {
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
            "description": "An SVG image (no fixed size: it fills its box), dark on white.",
        },
        401: UNAUTHORIZED,
        **COMMON_ERRORS,
    },
)
async def read_invite_qr_code(request: Request, member_id: MemberId, state: StateDep) -> Response:
    """The code a friend scans to open the invite link (the bot's deep link, or the web app's)."""
    profile = await state.service.members.profile(member_id)
    if profile is None:
        return member_gone()
    base_url = str(request.base_url)
    link = state.invite_links.link(profile.member.invite_code, base_url=base_url)
    # Members share one URL: nothing of one may be kept for the next one in the same browser.
    headers = {"Cache-Control": "no-store"}
    return Response(qr_svg(link, title=QR_TITLE), headers=headers, media_type="image/svg+xml")


def _board(board: Leaderboard) -> LeaderboardData:
    return LeaderboardData(
        leaders=[
            LeaderEntry(place=leader.place, phone=leader.phone, referrals=leader.referrals)
            for leader in board.leaders
        ],
        place=board.place,
        referrals=board.referrals,
    )


@slash_optional(
    router,
    "/top",
    method="GET",
    operation_id="readLeaderboards",
    summary="The members with most referrals this month and of all time, and the member's place",
    response_model=Leaderboards,
    responses={401: UNAUTHORIZED, **COMMON_ERRORS},
)
async def read_leaderboards(member_id: MemberId, service: ServiceDep) -> Response:
    """Ten places each (phones masked unless the server shows full numbers); of equal counts,
    who reached it first comes first. `place` is the asking member's own."""
    if await service.members.profile(member_id) is None:
        return member_gone()
    boards = await service.growth.leaderboards(member_id)
    return answer(
        200,
        Leaderboards(
            month=boards.month,
            this_month=_board(boards.this_month),
            all_time=_board(boards.all_time),
        ),
    )
