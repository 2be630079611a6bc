"""The playground's people, played against the real dispatcher and service in process: who may be
played, what each does becoming Telegram's updates, and what arrives live in their chats (and in
nobody else's)."""

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import create_bot, create_dispatcher
from db.service import ReferralService
from playground.bot_api import Retention
from playground.people import MESSAGES_KEPT, PEOPLE_LIMIT, Playground, PlaygroundError
from tests.api.conftest import api_settings
from tests.conftest import en, new_phone

OPERATOR = 42
CODE = re.compile(r"Your code: (\d{4,8})")
INVITE = re.compile(r"Your invite code: ([A-Z2-9]{6})")
JSON = dict[str, Any]


class Follower:
    """What a page following one person receives."""

    def __init__(self, playground: Playground, person_id: int) -> None:
        self.person_id = person_id
        self.events: asyncio.Queue[JSON] = asyncio.Queue()
        self.stream = playground.follow(person_id, idle=60)
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in self.stream:
            if event is not None:
                await self.events.put(event)

    async def next(self, kind: str = "message", containing: str = "") -> JSON:
        """The next event of `kind` whose JSON contains `containing` (others, and the person's
        own messages, are passed over)."""
        async with asyncio.timeout(10):
            while True:
                event = await self.events.get()
                own = (
                    event["type"] == "message" and event["message"]["from"]["id"] == self.person_id
                )
                if event["type"] == kind and containing in str(event) and not own:
                    return event


@pytest.fixture
async def playground(service: ReferralService, tmp_path: Path) -> AsyncIterator[Playground]:
    """A playground whose bot is polled by the real dispatcher, as the program runs it."""
    retention = Retention(messages_per_chat=MESSAGES_KEPT, calls=True)
    played = Playground.create(admin_ids=frozenset({OPERATOR}), retention=retention)
    settings = api_settings(tmp_path, admin_ids=[OPERATOR], flood_burst=50)
    dispatcher = create_dispatcher(service=service, settings=settings)
    bot = create_bot(settings, playground=played.api)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    try:
        yield played
    finally:
        played.close()
        await dispatcher.stop_polling()
        played.api.close()
        await polling
        await bot.session.close()


async def join(playground: Playground, person_id: int, follower: Follower, start: str = "") -> str:
    """The person's whole journey to membership, by what they type and tap; their invite code."""
    await playground.send_text(person_id, f"/start {start}".strip())
    greeting = await follower.next(containing=en("greeting")[:20])
    assert greeting["keyboard"]["keyboard"][0][0]["request_contact"] is True
    await playground.send_contact(person_id)
    sent = await follower.next(containing="Your code")
    code = CODE.search(sent["message"]["text"])
    assert code, sent
    await playground.send_text(person_id, code.group(1))
    await follower.next(containing=en("welcome-new")[:20])
    await playground.send_text(person_id, "/code")
    card = await follower.next(containing="Your invite code")
    invite = INVITE.search(card["message"]["text"])
    assert invite, card
    return invite.group(1)


def test_who_may_be_played() -> None:
    playground = Playground.create(admin_ids=frozenset({OPERATOR}))
    ann = playground.add_person("  Ann   Lee ", "en", "+7 912 000 00 01")
    bob = playground.add_person("Bob", "ru", "+79120000002")
    assert ann.user.first_name == "Ann Lee" and ann.id != bob.id and not ann.operator
    assert playground.add_person("Op", "en", "+79120000003", OPERATOR).operator
    refusals = [
        (("", "en", "+79120000004"), "api-playground-name"),
        (("x" * 65, "en", "+79120000004"), "api-playground-name"),
        (("Cy", "de", "+79120000004"), "api-playground-language"),
        (("Cy", "en", "call me"), "api-playground-phone"),
        (("Cy", "en", "+79120000004", OPERATOR), "api-playground-id-taken"),
        (("Cy", "en", "+79120000004", 0), "api-playground-id"),
        (("Cy", "en", "+79120000004", playground.api.bot_id), "api-playground-id"),
    ]
    for arguments, key in refusals:
        with pytest.raises(PlaygroundError) as refused:
            playground.add_person(*arguments)  # type: ignore[arg-type]
        assert refused.value.key == key, arguments
    assert len(playground.people) == 3  # a refusal changes nothing
    while len(playground.people) < PEOPLE_LIMIT:
        playground.add_person("Many", "en", "+79120000005")
    with pytest.raises(PlaygroundError) as refused:
        playground.add_person("One more", "en", "+79120000006")
    assert (refused.value.key, refused.value.status) == ("api-playground-too-many", 409)


def test_a_chat_keeps_its_last_messages_only() -> None:
    playground = Playground.create()
    ann = playground.add_person("Ann", "en", new_phone())
    for number in range(MESSAGES_KEPT + 20):
        playground.api.text_update(ann.user, f"message {number}")
    messages = playground.chats(ann.id)["messages"]
    assert len(messages) == MESSAGES_KEPT
    assert messages[-1]["text"] == f"message {MESSAGES_KEPT + 19}"


async def test_an_invitation_arrives_live_in_the_inviters_chat_only(
    playground: Playground,
) -> None:
    ann = playground.add_person("Ann", "en", new_phone())
    bob = playground.add_person("Bob", "en", new_phone())
    ann_page, bob_page = Follower(playground, ann.id), Follower(playground, bob.id)
    code = await join(playground, ann.id, ann_page)
    await join(playground, bob.id, bob_page, start=code)
    notice = await ann_page.next(containing="joined with your invite code")
    assert notice["message"]["from"]["id"] == playground.api.bot_id
    # Bob's own messages reached Bob's page, none of Ann's chat did.
    while not bob_page.events.empty():
        event = bob_page.events.get_nowait()
        assert event["message"]["chat"]["id"] == bob.id


async def test_buttons_answer_with_toasts_and_edit_in_place(playground: Playground) -> None:
    ann = playground.add_person("Ann", "ru", new_phone())
    page = Follower(playground, ann.id)
    await join_ru(playground, ann.id, page)
    await playground.send_text(ann.id, "/language")
    choice = await page.next()
    message = choice["message"]
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    english = next(b for b in buttons if b["text"] == "English")
    playground.press(ann.id, message["message_id"], english["callback_data"])
    edited = await page.next()
    assert edited["message"]["message_id"] == message["message_id"]
    assert "edit_date" in edited["message"]
    with pytest.raises(PlaygroundError) as refused:
        playground.press(ann.id, message["message_id"], "no such button")
    assert refused.value.key == "api-playground-no-button"


async def join_ru(playground: Playground, person_id: int, follower: Follower) -> None:
    """A Russian speaker's journey up to the menu (the texts are Russian)."""
    await playground.send_text(person_id, "/start")
    await follower.next()
    await playground.send_contact(person_id)
    sent = await follower.next(containing="4")
    code = re.search(r"\b(\d{4})\b", sent["message"]["text"])
    assert code, sent
    await playground.send_text(person_id, code.group(1))
    await follower.next()


async def test_an_inline_card_reaches_the_chosen_persons_chat(playground: Playground) -> None:
    ann = playground.add_person("Ann", "en", new_phone())
    bob = playground.add_person("Bob", "en", new_phone())
    ann_page, bob_page = Follower(playground, ann.id), Follower(playground, bob.id)
    code = await join(playground, ann.id, ann_page)
    query_id = playground.inline_query(ann.id, "")
    answer = await ann_page.next("inline")
    [result, *_] = answer["results"]
    card = playground.send_inline_result(ann.id, query_id, str(result["id"]), bob.id)
    arrived = await bob_page.next(containing=code)
    assert arrived["with"] == ann.id and arrived["message"] == card
    assert card["via_bot"]["username"] == playground.api.username
    assert playground.chats(bob.id)["people_chats"] == [{"with": ann.id, "messages": [card]}]
    with pytest.raises(PlaygroundError):
        playground.send_inline_result(ann.id, query_id, "no such result", bob.id)


async def test_a_person_who_blocked_the_bot_gets_nothing_until_unblocking(
    playground: Playground,
) -> None:
    ann = playground.add_person("Ann", "en", new_phone())
    bob = playground.add_person("Bob", "en", new_phone())
    ann_page, bob_page = Follower(playground, ann.id), Follower(playground, bob.id)
    code = await join(playground, ann.id, ann_page)
    playground.block(ann.id, True)
    assert playground.chats(ann.id)["blocked"] is True
    await join(playground, bob.id, bob_page, start=code)
    # The inviter's notice was refused as Telegram refuses it; join() returned after Bob's
    # welcome, which the bot sends after the notice.
    refused = [call for call in playground.api.bot_calls() if call.status == 403]
    assert [call.params["chat_id"] for call in refused] == [ann.id]
    assert ann_page.events.empty()
    playground.block(ann.id, False)
    await playground.send_text(ann.id, "/refs")
    await ann_page.next(containing="1")


async def test_the_menu_is_the_persons_own(playground: Playground) -> None:
    ann = playground.add_person("Ann", "ru", new_phone())
    operator = playground.add_person("Olga", "en", new_phone(), OPERATOR)
    page = Follower(playground, ann.id)
    await playground.send_text(ann.id, "/start")
    await page.next()
    member_menu = {c["command"] for c in playground.chats(ann.id)["menu"]}
    operator_menu = {c["command"] for c in playground.chats(operator.id)["menu"]}
    assert "code" in member_menu and "stats" not in member_menu
    assert {"stats", "find", "broadcast"} <= operator_menu
    russian = playground.chats(ann.id)["menu"][0]["description"]
    assert re.search("[а-я]", russian), russian


async def test_closing_ends_every_stream(playground: Playground) -> None:
    ann = playground.add_person("Ann", "en", new_phone())
    page = Follower(playground, ann.id)
    await asyncio.sleep(0)
    playground.close()
    await asyncio.wait_for(page.task, 5)
