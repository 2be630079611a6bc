"""Invite codes through the bot: `/invite`, deep links of members, the inviter's notice."""

import logging
from collections.abc import Awaitable, Callable

import pytest
from aiogram.exceptions import TelegramForbiddenError, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import EditMessageText, SendMessage

from db.codes import INVITE_CODE_SHAPE
from db.phones import mask_phone
from db.results import Member
from db.service import ReferralService
from logs import BotTokenFilter
from tests.bot.conftest import MockedSession, People, Person, inline_buttons, texts_of
from tests.conftest import en, join

MemberOf = Callable[[Person], Awaitable[Member]]


@pytest.fixture
def member_of(service: ReferralService) -> MemberOf:
    """Makes a person a verified member (through the service, as the bot's code step would)."""

    async def verified(person: Person) -> Member:
        return await join(service, person.phone, telegram_id=person.id)

    return verified


async def test_invite_with_a_code_joins_and_notifies_the_inviter(
    people: People, member_of: MemberOf, service: ReferralService
) -> None:
    owner, newcomer = people(), people()
    inviter = await member_of(owner)
    joined = await member_of(newcomer)

    calls = await newcomer.send(f"/invite {inviter.invite_code.lower()}")
    assert [(m.chat_id, m.text) for m in calls if isinstance(m, SendMessage)] == [
        (newcomer.id, f"Done! You joined with the code of {mask_phone(owner.phone)}."),
        (owner.id, f"🎉 {mask_phone(newcomer.phone)} joined with your invite code!"),
    ]
    profile = await service.members.profile(joined.id)
    assert profile is not None and profile.inviter_code == inviter.invite_code


async def test_each_refusal_of_invite_has_its_own_message(
    people: People, member_of: MemberOf
) -> None:
    alice, bob = people(), people()
    a, b = await member_of(alice), await member_of(bob)

    assert texts_of(await alice.send(f"/invite {a.invite_code}")) == [
        "That is your own code. Enter the code of the person who invited you."
    ]
    unknown = f"No member has the code <code>ZZZZZZ</code>. An invite code is {INVITE_CODE_SHAPE}."
    assert texts_of(await alice.send("/invite zzzzzz")) == [unknown]
    malformed = texts_of(await alice.send("/invite <b>0O"))[0]
    assert malformed.startswith("No member has the code <code>&lt;B&gt;0O</code>.")

    await bob.send(f"/invite {a.invite_code}")
    assert texts_of(await alice.send(f"/invite {b.invite_code}")) == [
        "You cannot use this code: its owner joined through you."
    ]
    assert texts_of(await bob.send(f"/invite {b.invite_code}")) == [
        f"You already joined with the code <code>{a.invite_code}</code>; it cannot be changed."
    ]


async def test_a_very_long_code_is_quoted_only_in_part(people: People, member_of: MemberOf) -> None:
    alice = people()
    await member_of(alice)
    typed = "Q" * 4000
    [answer] = texts_of(await alice.send(f"/invite {typed}"))
    assert answer.startswith(f"No member has the code <code>{'Q' * 31}…</code>.")
    await alice.send("/invite")
    [answer] = texts_of(await alice.send("<" * 4000))
    assert answer.startswith(f"No member has the code <code>{'&lt;' * 31}…</code>.")


async def test_invite_alone_asks_for_the_code_in_the_next_message(
    people: People, member_of: MemberOf
) -> None:
    owner, newcomer = people(), people()
    inviter = await member_of(owner)
    await member_of(newcomer)

    assert texts_of(await newcomer.send("/invite")) == [en("ask-invite-code")]
    assert texts_of(await newcomer.send("   "))[0].startswith("No code given.")
    await newcomer.send("/invite")
    answer = await newcomer.send(inviter.invite_code)
    assert texts_of(answer)[0].startswith("Done! You joined with the code of")
    assert texts_of(await newcomer.send("hello")) == [en("not-understood")]  # the step is over
    assert texts_of(await newcomer.send("/invite")) == [en("already-has-inviter")]


async def test_the_menu_button_asks_for_the_code(people: People, member_of: MemberOf) -> None:
    owner, newcomer = people(), people()
    inviter = await member_of(owner)
    await newcomer.verify()

    assert texts_of(await newcomer.press("Enter an invite code"))[-1] == en(
        "ask-invite-code", shape=en("invite-code-shape")
    )
    assert texts_of(await newcomer.send(inviter.invite_code))[0].startswith("Done!")


async def test_a_member_opening_a_link_is_asked_and_yes_activates(
    people: People, member_of: MemberOf, service: ReferralService
) -> None:
    owner, visitor = people(), people()
    inviter = await member_of(owner)
    await member_of(visitor)

    opened = await visitor.send(f"/start {inviter.invite_code}")
    question = opened[-1]
    assert isinstance(question, SendMessage)
    assert question.text == f"Join with the code of {mask_phone(owner.phone)}?"
    assert [(b.text, b.callback_data) for b in inline_buttons(question)] == [
        ("Yes", f"join:{inviter.invite_code}:1"),
        ("No", f"join:{inviter.invite_code}:0"),
    ]

    answer = await visitor.press("Yes")
    edited = [method for method in answer if isinstance(method, EditMessageText)]
    assert [method.text for method in edited] == [
        f"Done! You joined with the code of {mask_phone(owner.phone)}."
    ]
    member = await service.members.member_by_telegram(visitor.id)
    assert member is not None and member.inviter_id == inviter.id


async def test_no_does_not_activate(
    people: People, member_of: MemberOf, service: ReferralService
) -> None:
    owner, visitor = people(), people()
    inviter = await member_of(owner)
    await member_of(visitor)

    await visitor.send(f"/start {inviter.invite_code}")
    assert texts_of(await visitor.press("No")) == [en("join-declined")]
    member = await service.members.member_by_telegram(visitor.id)
    assert member is not None and member.inviter_id is None


async def test_a_stale_yes_after_another_activation_is_harmless(
    people: People, member_of: MemberOf, service: ReferralService
) -> None:
    first, second, visitor = people(), people(), people()
    first_inviter, second_inviter = await member_of(first), await member_of(second)
    await member_of(visitor)

    await visitor.send(f"/start {second_inviter.invite_code}")
    await visitor.send(f"/invite {first_inviter.invite_code}")
    stale = await visitor.press("Yes")
    assert texts_of(stale) == [
        f"You already joined with the code <code>{first_inviter.invite_code}</code>; "
        "it cannot be changed."
    ]
    assert not [m for m in stale if getattr(m, "chat_id", None) == second.id]
    member = await service.members.member_by_telegram(visitor.id)
    assert member is not None and member.inviter_id == first_inviter.id


async def test_links_that_cannot_be_offered(
    people: People, member_of: MemberOf, service: ReferralService
) -> None:
    owner, visitor = people(), people()
    inviter = await member_of(owner)
    await member_of(visitor)

    assert texts_of(await owner.send(f"/start {inviter.invite_code}"))[-1] == en("own-link")
    assert texts_of(await visitor.send("/start ABCDEF"))[-1].startswith("No member has the code")
    await visitor.send(f"/invite {inviter.invite_code}")
    again = await visitor.send(f"/start {inviter.invite_code}")
    assert texts_of(again)[-1] == en("already-has-inviter")
    # The service decides what a link's code would do: the owner of a code their referral
    # shares is told at once that it would close a cycle, not asked first.
    joined = await service.members.member_by_telegram(visitor.id)
    assert joined is not None
    back = texts_of(await owner.send(f"/start {joined.invite_code}"))[-1]
    assert back == "You cannot use this code: its owner joined through you."


@pytest.mark.parametrize(
    "failure",
    [
        lambda: TelegramForbiddenError(SendMessage(chat_id=0, text=""), "bot was blocked"),
        lambda: TelegramRetryAfter(SendMessage(chat_id=0, text=""), "Too Many Requests", 30),
    ],
    ids=["blocked", "rate-limited"],
)
async def test_a_notice_that_cannot_be_delivered_does_not_fail_the_activation(
    people: People,
    member_of: MemberOf,
    service: ReferralService,
    session: MockedSession,
    caplog: pytest.LogCaptureFixture,
    failure: Callable[[], Exception],
) -> None:
    owner, newcomer = people(), people()
    inviter = await member_of(owner)
    await member_of(newcomer)
    session.fail_next(failure(), chat_id=owner.id)

    with caplog.at_level(logging.INFO):
        answer = await newcomer.send(f"/invite {inviter.invite_code}")

    assert texts_of(answer)[0].startswith("Done! You joined with the code of")
    member = await service.members.member_by_telegram(newcomer.id)
    assert member is not None and member.inviter_id == inviter.id
    warnings = [r for r in caplog.records if r.name.startswith("bot")]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert "42:TEST" not in caplog.text


async def test_a_notice_lost_to_the_network_logs_no_bot_token(
    people: People,
    member_of: MemberOf,
    session: MockedSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aiohttp puts the Bot API URL, token and all, in a network error's message; the program's
    log handlers hide it there as in every other line (logs.configure_logging)."""
    owner, newcomer = people(), people()
    inviter = await member_of(owner)
    await member_of(newcomer)
    url = "http://127.0.0.1:8081/bot42:TEST/sendMessage"
    reason = f"ClientOSError: Can not write request body for {url}"  # as aiogram words it
    session.fail_next(
        TelegramNetworkError(SendMessage(chat_id=0, text=""), reason), chat_id=owner.id
    )
    caplog.handler.addFilter(BotTokenFilter())  # as configure_logging does to the root's handlers

    with caplog.at_level(logging.INFO):
        answer = await newcomer.send(f"/invite {inviter.invite_code}")

    assert texts_of(answer)[0].startswith("Done! You joined with the code of")
    [warning] = [r for r in caplog.records if r.name == "bot.notifications"]
    assert warning.getMessage() == (
        f"inviter {inviter.id} not notified: TelegramNetworkError: ClientOSError: Can not write "
        "request body for http://127.0.0.1:8081/bot42:***/sendMessage"
    )
    assert "42:TEST" not in caplog.text
