"""A member's invite link as the web app shows it, and its QR code: `GET /api/data/qr.svg`;
and the leaderboard: `GET /api/top/`.

The link is the bot's deep link when the bot is running (its username is known), else the web
app's own `/?ref=CODE` at `WEB_APP_URL` or, without it, at the address the request came to.
"""

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import MemberId, ServiceDep
from api.docs import COMMON_ERRORS
from api.models import LeaderboardData, Leaderboards, LeaderEntry
from api.referrals import UNAUTHORIZED, member_gone
from api.replies import answer
from api.routing import slash_optional
from db.qr import qr_svg
from db.results import Leaderboard

router = APIRouter(prefix="/api", tags=["referrals"])

CODE_PLACEHOLDER = "{code}"
QR_TITLE = "Invite link"


@dataclass(frozen=True, slots=True)
class InviteLinks:
    """Where invite links point: the bot (by its username) or the web app."""

    bot_username: str | None
    web_app_url: str | None

    def template(self, request: Request) -> str:
        """The invite link with `{code}` in place of the code."""
        if self.bot_username:
            return f"https://t.me/{self.bot_username}?start={CODE_PLACEHOLDER}"
        base = self.web_app_url or str(request.base_url)
        return f"{base.split('?')[0].split('#')[0]}?ref={CODE_PLACEHOLDER}"

    def link(self, request: Request, invite_code: str) -> str:
        return self.template(request).replace(CODE_PLACEHOLDER, invite_code)


def invite_links(request: Request) -> InviteLinks:
    links: InviteLinks = request.app.state.invite_links
    return links


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
async def read_invite_qr_code(
    request: Request, member_id: MemberId, service: ServiceDep
) -> Response:
    """The code a friend scans to open the invite link (the bot's deep link, or the web app's)."""
    profile = await service.profile(member_id)
    if profile is None:
        return member_gone()
    link = invite_links(request).link(request, profile.member.invite_code)
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
    if await service.profile(member_id) is None:
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
