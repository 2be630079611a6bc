"""The bot's messages built from the catalogs in `locales/`, in the language of the update being
handled (see `bot.middlewares.language`): the words live in the catalogs, the shapes here.

Texts are HTML (the bot's default parse mode); values that come from users are escaped here.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from aiogram.utils.i18n import get_i18n, gettext
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

from db.broadcasts import Broadcast, BroadcastStatus
from db.events import EventCounts
from db.results import (
    BlockOutcome,
    CodeRequest,
    CodeRequestOutcome,
    Day,
    InviteOutcome,
    Leaderboard,
    MemberCard,
    MilestoneProgress,
    ProgramStats,
    Referral,
    TopBoards,
    VerifyOutcome,
)

# The command menu (setMyCommands), in the order it is shown; each described by `command-<name>`.
COMMANDS = (
    "start",
    "code",
    "refs",
    "invite",
    "me",
    "top",
    "qr",
    "language",
    "privacy",
    "mydata",
    "delete",
    "help",
    "cancel",
    "logout",
)
# What operators (ADMIN_IDS) get in their menu besides, and nobody else sees.
OPERATOR_COMMANDS = ("stats", "find", "export", "broadcast", "events_retry")

QUOTED_INPUT_LIMIT = 32  # characters of what somebody typed that a reply repeats


def _(message_id: str, **values: object) -> str:
    """The message in the update's language, its placeholders filled."""
    text = gettext(message_id)
    return text.format(**values) if values else text


def plural(message_id: str, count: int, **values: object) -> str:
    """The form of a message that fits `count` (1 друг, 2 друга, 5 друзей), count formatted."""
    text = gettext(message_id, message_id, count)
    return text.format(count=number(count), **values)


def number(value: int) -> str:
    """1,234 in English, 1 234 in Russian."""
    return format_decimal(value, locale=get_i18n().current_locale)


def day(moment: datetime) -> str:
    """The date as the language writes it ("Nov 30, 2026" in English)."""
    return format_date(moment, format="medium", locale=get_i18n().current_locale)


def moment(at: datetime) -> str:
    """A time in UTC as the language writes it ("Nov 30, 2026, 09:13")."""
    return format_datetime(at, "d MMM y, HH:mm", tzinfo=UTC, locale=get_i18n().current_locale)


def percent(share: float) -> str:
    """12.5% in English, 12,5 % in Russian: the language's own pattern, to a tenth of a percent."""
    return format_percent(
        round(share, 3), locale=get_i18n().current_locale, decimal_quantization=False
    )


def quoted(typed: str) -> str:
    """What somebody typed, as a reply may repeat it: cut to a sane length, HTML-escaped."""
    if len(typed) > QUOTED_INPUT_LIMIT:
        typed = typed[: QUOTED_INPUT_LIMIT - 1] + "…"
    return escape(typed)


def shown(phone: str | None) -> str:
    """A referral's phone as the service shows it, or "deleted member" for an erased one."""
    return _("deleted-member") if phone is None else phone


def invite_remembered(invite_code: str) -> str:
    return _("invite-remembered", code=quoted(invite_code))


def _duration(seconds: int) -> str:
    if seconds % 60 == 0:
        return _("duration-minutes", count=seconds // 60)
    return _("duration-seconds", count=seconds)


def code_sent(request: CodeRequest, code_length: int) -> str:
    lines = [
        _(
            "code-sent",
            length=code_length,
            phone=request.phone,
            duration=_duration(request.expires_in),
        )
    ]
    if request.code is not None:
        lines.append(_("code-shown", code=request.code))
    return "\n".join(lines)


def new_code_available_in(seconds: int) -> str:
    return _("new-code-in", seconds=seconds)


def code_not_sent(request: CodeRequest) -> str:
    """Why no code was sent this time (any outcome but SENT)."""
    if request.outcome is CodeRequestOutcome.COOLDOWN:
        return _("code-recently-sent") + " " + new_code_available_in(request.retry_after)
    if request.outcome is CodeRequestOutcome.HOURLY_LIMIT:
        return _("code-hourly-limit", seconds=request.retry_after)
    if request.outcome is CodeRequestOutcome.INVALID_PHONE:
        return _("code-invalid-phone")
    return _("code-not-sent")


def new_code_refused(request: CodeRequest) -> str:
    """The answer to "Send a new code" when no code was sent."""
    if request.outcome is CodeRequestOutcome.COOLDOWN:
        return new_code_available_in(request.retry_after)
    return code_not_sent(request)


def code_rejected(outcome: VerifyOutcome, attempts_left: int, code_length: int) -> str:
    """Why a typed code did not verify (any outcome but VERIFIED)."""
    if outcome is VerifyOutcome.WRONG_CODE:
        return plural("wrong-code", attempts_left)
    if outcome is VerifyOutcome.MALFORMED_CODE:
        return _("malformed-code", length=code_length)
    return _(
        {
            VerifyOutcome.EXPIRED: "code-expired",
            VerifyOutcome.TOO_MANY_ATTEMPTS: "code-too-many-attempts",
            VerifyOutcome.NO_CODE: "code-none",
            VerifyOutcome.INVALID_PHONE: "code-lost-phone",
        }[outcome]
    )


def ask_invite_code() -> str:
    return _("ask-invite-code", shape=_("invite-code-shape"))


def help_text() -> str:
    return _("help", shape=_("invite-code-shape"))


def code_card(invite_code: str, link: str) -> str:
    return _("code-card", code=invite_code, link=link)


def share_text(invite_code: str) -> str:
    return _("share-text", code=invite_code)


def activation(outcome: InviteOutcome, code: str, inviter_phone: str | None) -> str:
    """The answer to an attempt to activate an invite code, one message per outcome."""
    if outcome is InviteOutcome.ACTIVATED:
        return _("activation-done", phone=inviter_phone)
    if outcome is InviteOutcome.UNKNOWN:
        return _("activation-unknown", code=quoted(code), shape=_("invite-code-shape"))
    if outcome is InviteOutcome.ALREADY_ACTIVATED:
        return _("activation-already", code=quoted(code))
    if outcome is InviteOutcome.CODE_SUSPENDED:
        return _("activation-code-suspended", code=quoted(code))
    return _(
        {
            InviteOutcome.EMPTY: "activation-empty",
            InviteOutcome.OWN_CODE: "activation-own-code",
            InviteOutcome.CYCLE: "activation-cycle",
            InviteOutcome.MEMBER_NOT_FOUND: "share-phone-first",
            InviteOutcome.MEMBER_BLOCKED: "activation-member-blocked",
        }[outcome]
    )


def referrals(items: Sequence[Referral], total: int, page_number: int, page_size: int) -> str:
    """A page of referrals; `total` counts the qualified ones, and pending ones on the page say
    what they wait for (so there may be more pages than the count alone makes)."""
    if not items:
        return _("no-referrals")
    pages = max(-(-total // page_size), page_number)
    first = (page_number - 1) * page_size + 1
    header = plural("referrals-count", total)
    lines = [f"{header} ({_('referrals-page', page=page_number, pages=number(pages))})", ""]
    lines += [
        f"{position}. {shown(item.phone)}, {day(item.invited_at)}{pending(item)}"
        for position, item in enumerate(items, start=first)
    ]
    return "\n".join(lines)


def pending(item: Referral) -> str:
    """What a pending referral waits for, after its line; nothing for a qualified one."""
    if item.stage != "pending":
        return ""
    if item.days_to_go is not None:
        waiting = plural("referral-days-to-go", item.days_to_go)
    elif item.waits_for == "in_chats":
        waiting = _("referral-waits-for-chats")
    else:
        waiting = _("referral-waits-for-approval")
    return f" — ⏳ {waiting}"


def profile(phone: str, invite_code: str, inviter_code: str | None, referral_count: int) -> str:
    joined_with = f"<code>{inviter_code}</code>" if inviter_code else _("joined-with-none")
    return _(
        "profile",
        phone=phone,
        code=invite_code,
        joined_with=joined_with,
        referrals=plural("referrals-count", referral_count),
    )


def privacy(contact: str | None, policy_url: str | None) -> str:
    """`/privacy`: what is kept, why, how long, who sees it, how to see and erase it."""
    lines = [_("privacy-contact", contact=escape(contact)) if contact else _("privacy-no-contact")]
    if policy_url:
        lines.append(_("privacy-policy", url=escape(policy_url)))
    return _("privacy", contact="\n".join(lines))


def private_only(bot_username: str) -> str:
    return _("private-only", username=bot_username)


# Operators


def program_stats(stats: ProgramStats) -> str:
    """`/stats`: the figures and the top inviters (masked phones)."""
    top = "\n".join(
        f"{place}. {shown(inviter.phone)}: {number(inviter.referrals)}"
        for place, inviter in enumerate(stats.top_inviters, start=1)
    )
    return _(
        "stats",
        time=moment(stats.at),
        members=number(stats.members),
        today=number(stats.joined_today),
        week=number(stats.joined_7_days),
        month=number(stats.joined_30_days),
        invited=number(stats.invited),
        share=percent(stats.invited_share),
        blocked=number(stats.blocked),
        top=top or _("stats-top-none"),
    )


def event_counts(counts: EventCounts) -> str:
    """`/stats`: outbound events waiting for delivery and given up."""
    return _("stats-events", pending=number(counts.pending), failed=number(counts.failed))


def broadcast_progress(broadcast: Broadcast) -> str:
    """A broadcast's progress message while it is sent, then its report."""
    figures = {
        "done": number(broadcast.done),
        "total": number(broadcast.total),
        "sent": number(broadcast.sent),
        "unreachable": number(broadcast.unreachable),
        "failed": number(broadcast.failed),
    }
    if broadcast.status is BroadcastStatus.SENDING:
        return _("broadcast-progress", **figures)
    if broadcast.status is BroadcastStatus.CANCELLED:
        return _("broadcast-report-stopped", **figures)
    return _("broadcast-report", **figures)


def chart_day(date_of: Day) -> str:
    """A day under the chart: "30 Nov", "30 нояб."."""
    return format_date(date_of.day, "d MMM", locale=get_i18n().current_locale)


def member_card(card: MemberCard) -> str:
    """A member as operators see them: the full phone, codes, times, status."""
    if card.blocked_at is None:
        status = _("status-active")
    else:
        blocked = {"time": moment(card.blocked_at), "operator": card.blocked_by or "?"}
        if card.block_reason:
            status = _("status-blocked-reason", reason=escape(card.block_reason), **blocked)
        else:
            status = _("status-blocked", **blocked)
    return _(
        "member-card",
        id=card.id,
        phone=card.phone,
        telegram=card.telegram_id or _("card-none"),
        code=card.invite_code,
        inviter=f"<code>{card.inviter_code}</code>" if card.inviter_code else _("card-none"),
        referrals=number(card.referrals),
        joined=moment(card.joined_at),
        last_login=moment(card.last_login_at),
        language=card.language or _("card-language-none"),
        status=status,
    )


def block_change(outcome: BlockOutcome, phone: str, *, blocking: bool) -> str:
    """What a Block or Unblock did (for DONE and UNCHANGED)."""
    if outcome is BlockOutcome.DONE:
        return _("block-done" if blocking else "unblock-done", phone=phone)
    return _("block-already" if blocking else "unblock-already", phone=phone)


def friends(count: int) -> str:
    """ "3 friends", "3 друга"."""
    return plural("friends-count", count)


def place(value: int) -> str:
    """An ordinal place as the language writes it (1,234th in English), from the catalog."""
    language = get_i18n().current_locale
    form = Locale.parse(language).ordinal_form(value)
    message_id = f"place-{form}" if form in ("one", "two", "few") else "place-other"
    return _(message_id, place=number(value))


def leaderboards(boards: TopBoards) -> str:
    """`/top`: the leaders of this month and of all time, and the asker's place on each."""
    month = format_date(boards.month, format="LLLL yyyy", locale=get_i18n().current_locale)
    parts = [
        _leaderboard(_("top-this-month", month=month), boards.this_month),
        _leaderboard(_("top-all-time"), boards.all_time),
    ]
    return "\n\n".join(parts)


def _leaderboard(title: str, board: Leaderboard) -> str:
    lines = [title]
    lines += [
        _(
            "top-line",
            place=leader.place,
            phone=shown(leader.phone),
            friends=friends(leader.referrals),
        )
        for leader in board.leaders
    ] or [_("top-empty")]
    if board.place is None:
        lines.append(_("top-no-place"))
    else:
        mine = friends(board.referrals)
        lines.append(_("top-your-place", place=place(board.place), friends=mine))
    return "\n".join(lines)


def milestone_progress(progress: MilestoneProgress) -> str:
    """The line of `/me` about the next milestone; empty without milestones (MILESTONES empty)."""
    if progress.reached is None and progress.next is None:
        return ""
    if progress.next is not None:
        left = progress.next - progress.referrals
        return _("milestone-next", next=number(progress.next), left=number(left))
    return _("milestone-all-reached", reached=number(progress.reached or 0))


def milestone_reached(milestone: int, upcoming: int | None) -> str:
    """The inviter's congratulation on a milestone, with the next one."""
    if upcoming is None:
        return _("milestone-reached-last", friends=friends(milestone))
    return _("milestone-reached", friends=friends(milestone), next=number(upcoming))
