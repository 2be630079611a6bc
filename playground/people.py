"""The playground's people: the visitor of the page plays any number of them, each talking to the
real bot through the Bot API stand-in, and each seeing their chats live.

A played person is a Telegram user made up on the spot (a name, an id, a language, a phone).
What they do becomes the update Telegram would make of it; what the bot shows them, and what
another played person sends them (an inline invite card, a shared link), reaches every page that
follows them as an event. Nothing grows without bound: the people are capped, and each chat keeps
its last `MESSAGES_KEPT` messages, as the stand-in's own chats do.
"""

import asyncio
import itertools
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from playground.bot_api import JSON, BotApi, BotMessage, Retention, User
from playground.formatting import formatted, inline_keyboard

PEOPLE_LIMIT = 1_000
MESSAGES_KEPT = 300
NAME_LIMIT = 64
LANGUAGES = ("en", "ru")
FIRST_ID = 100_001
# Telegram's user ids are positive and fit 52 bits.
ID_LIMIT = 2**52
PHONE = re.compile(r"\+?[0-9][0-9 ()-]{4,24}")
EVENTS_KEPT = 100  # per page that follows a person: a page that stops reading loses the oldest

RETENTION = Retention(messages_per_chat=MESSAGES_KEPT, chats=PEOPLE_LIMIT, calls=False)


class PlaygroundError(Exception):
    """What the visitor asked cannot be done; `key` names the text that says why (locales)."""

    def __init__(self, key: str, status: int = 400) -> None:
        super().__init__(key)
        self.key = key
        self.status = status


@dataclass(slots=True)
class Person:
    user: User
    phone: str
    operator: bool

    @property
    def id(self) -> int:
        return self.user.id

    def to_json(self) -> JSON:
        return {
            "id": self.id,
            "name": self.user.first_name,
            "username": self.user.username,
            "language": self.user.language_code,
            "phone": self.phone,
            "operator": self.operator,
        }


@dataclass(slots=True)
class _PeopleChat:
    """A chat between two played people: where an inline card or a shared link arrives."""

    messages: deque[JSON] = field(default_factory=lambda: deque(maxlen=MESSAGES_KEPT))
    next_message_id: int = 1


class Playground:
    """The people played against one bot's stand-in, and the pages that follow them."""

    def __init__(self, api: BotApi, *, admin_ids: frozenset[int] = frozenset()) -> None:
        self.api = api
        self.admin_ids = admin_ids
        self.people: dict[int, Person] = {}
        self._ids = itertools.count(FIRST_ID)
        self._people_chats: dict[frozenset[int], _PeopleChat] = {}
        self._followers: dict[int, set[asyncio.Queue[JSON | None]]] = {}
        self._closed = False
        api.listener = self._shown

    @classmethod
    def create(
        cls, *, admin_ids: frozenset[int] = frozenset(), retention: Retention = RETENTION
    ) -> "Playground":
        """A playground with a stand-in of its own (a bot that exists only here); a test may
        keep the bot's calls in `retention`."""
        api = BotApi("1:playground", "playground_referral_bot", "Referral Bot", retention=retention)
        return cls(api, admin_ids=admin_ids)

    # --- the people -----------------------------------------------------------------------------

    def add_person(
        self, name: str, language: str, phone: str, user_id: int | None = None
    ) -> Person:
        name = " ".join(name.split())
        if not name or len(name) > NAME_LIMIT:
            raise PlaygroundError("api-playground-name")
        if language not in LANGUAGES:
            raise PlaygroundError("api-playground-language")
        phone = phone.strip()
        if not PHONE.fullmatch(phone):
            raise PlaygroundError("api-playground-phone")
        if len(self.people) >= PEOPLE_LIMIT:
            raise PlaygroundError("api-playground-too-many", 409)
        if user_id is None:
            user_id = next(i for i in self._ids if i not in self.people)
        elif not 0 < user_id < ID_LIMIT or user_id == self.api.bot_id:
            raise PlaygroundError("api-playground-id")
        elif user_id in self.people:
            raise PlaygroundError("api-playground-id-taken", 409)
        user = User(user_id, name, f"user{user_id}", language)
        person = Person(user, phone, user_id in self.admin_ids)
        self.people[user_id] = person
        return person

    def person(self, person_id: int) -> Person:
        person = self.people.get(person_id)
        if person is None:
            raise PlaygroundError("api-playground-no-person", 404)
        return person

    def chats(self, person_id: int) -> JSON:
        """What the person's page shows: the chat with the bot (its messages as they stand, the
        reply keyboard, the command menu) and their chats with other played people."""
        person = self.person(person_id)
        others = [
            {"with": other, "messages": list(chat.messages)}
            for pair, chat in self._people_chats.items()
            if person_id in pair
            for other in pair - {person_id}
        ]
        return {
            "person": person.to_json(),
            "blocked": self.api.has_blocked(person_id),
            "messages": self.api.messages(person_id),
            "keyboard": self.api.reply_keyboard(person_id),
            "menu": self.api.menu(person_id, person.user.language_code or ""),
            "people_chats": others,
        }

    # --- what a person does ---------------------------------------------------------------------

    async def send_text(self, person_id: int, text: str) -> JSON:
        text = text.strip()
        if not text:
            raise PlaygroundError("api-playground-empty")
        if len(text) > 4_096:
            raise PlaygroundError("api-playground-too-long")
        person = self.person(person_id)
        return self._sent(person, self.api.text_update(person.user, text))

    async def send_contact(self, person_id: int, phone: str | None = None) -> JSON:
        """The person's own contact (Share my phone number), or, with `phone`, somebody else's."""
        person = self.person(person_id)
        if phone is None:
            update = self.api.contact_update(person.user, person.phone)
        else:
            if not PHONE.fullmatch(phone.strip()):
                raise PlaygroundError("api-playground-phone")
            update = self.api.contact_update(person.user, phone.strip(), None)
        return self._sent(person, update)

    def press(self, person_id: int, message_id: int, data: str) -> None:
        """An inline button with callback data; its answer arrives as a `toast` event."""
        person = self.person(person_id)
        try:
            update = self.api.callback_update(person.user, message_id, data)
        except AssertionError:
            raise PlaygroundError("api-playground-no-button", 404) from None
        self.api.deliver(update)

    def inline_query(self, person_id: int, query: str) -> int:
        """The person types `@bot <query>`: the bot's results arrive as an `inline` event with
        the id returned here."""
        person = self.person(person_id)
        return self.api.inline_query(person.user, query)

    def send_inline_result(self, person_id: int, query_id: int, result_id: str, to_id: int) -> JSON:
        """The person picks a result of their inline query in their chat with `to_id`: its
        message arrives there, sent by the person via the bot, as in Telegram."""
        person, other = self.person(person_id), self.person(to_id)
        answer = self.api.query_answer(query_id)
        if answer is None or "results" not in answer:
            raise PlaygroundError("api-playground-no-result", 404)
        result = next(
            (r for r in answer["results"] if str(r.get("id")) == result_id and r.get("type")), None
        )
        content = (result or {}).get("input_message_content") or {}
        if "message_text" not in content:
            raise PlaygroundError("api-playground-no-result", 404)
        text, entities = formatted(str(content["message_text"]), content.get("parse_mode"))
        message: JSON = {"text": text, "entities": entities, "via_bot": self.api.bot_user}
        markup = inline_keyboard(result.get("reply_markup")) if result else None
        if markup:
            message["reply_markup"] = markup
        return self._to_person(person, other, message)

    def share(self, person_id: int, to_id: int, text: str) -> JSON:
        """The share dialog: the person sends a text (a link) to another played person."""
        person, other = self.person(person_id), self.person(to_id)
        text = text.strip()
        if not text or len(text) > 4_096:
            raise PlaygroundError("api-playground-empty")
        return self._to_person(person, other, {"text": text})

    def block(self, person_id: int, blocked: bool) -> None:
        """The person blocks the bot (its messages to them are refused with 403) or unblocks it."""
        self.person(person_id)
        if blocked:
            self.api.block_bot(person_id)
        else:
            self.api.unblock_bot(person_id)

    def file(self, file_id: str) -> tuple[str, bytes]:
        try:
            return self.api.file(file_id)
        except KeyError:
            raise PlaygroundError("api-playground-no-file", 404) from None

    def _sent(self, person: Person, update: JSON) -> JSON:
        message: JSON = update["message"]
        self._tell(person.id, {"type": "message", "message": message})
        self.api.deliver(update)
        return message

    def _to_person(self, person: Person, other: Person, content: JSON) -> JSON:
        chat = self._people_chats.setdefault(frozenset((person.id, other.id)), _PeopleChat())
        message = {
            "message_id": chat.next_message_id,
            "from": person.user.to_api(),
            "date": int(time.time()),
            **{key: value for key, value in content.items() if value},
        }
        chat.next_message_id += 1
        chat.messages.append(message)
        for who, peer in ((person.id, other.id), (other.id, person.id)):
            self._tell(who, {"type": "message", "with": peer, "message": message})
        return message

    # --- the pages that follow people -----------------------------------------------------------

    def _shown(self, chat_id: int, event: BotMessage) -> None:
        """The stand-in's listener: what the bot showed a person goes to their pages."""
        if event.method == "answerCallbackQuery":
            answer = event.content
            if answer.get("text"):
                toast = {"type": "toast", "text": answer["text"], "alert": answer["show_alert"]}
                self._tell(chat_id, toast)
        elif event.method == "answerInlineQuery":
            self._tell(chat_id, {"type": "inline", **event.content})
        else:
            self._tell(
                chat_id,
                {
                    "type": "message",
                    "message": event.content,
                    "keyboard": self.api.reply_keyboard(chat_id),
                },
            )

    def _tell(self, person_id: int, event: JSON) -> None:
        for queue in self._followers.get(person_id, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def follow(self, person_id: int, *, idle: float) -> AsyncIterator[JSON | None]:
        """The events of a person's chats from now on, until the playground closes; None after
        each `idle` seconds without one."""
        self.person(person_id)  # refused at once, before a stream opens
        return self._events(person_id, idle)

    async def _events(self, person_id: int, idle: float) -> AsyncIterator[JSON | None]:
        if self._closed:
            return
        queue: asyncio.Queue[JSON | None] = asyncio.Queue(EVENTS_KEPT)
        self._followers.setdefault(person_id, set()).add(queue)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), idle)
                except TimeoutError:
                    yield None
                    continue
                if event is None:
                    return
                yield event
        finally:
            followers = self._followers.get(person_id, set())
            followers.discard(queue)
            if not followers:
                self._followers.pop(person_id, None)

    def close(self) -> None:
        """The program stops: every page's stream ends (the server waits for open requests)."""
        self._closed = True
        for queues in self._followers.values():
            for queue in queues:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)

    def describe(self) -> dict[str, Any]:
        return {
            "bot": {"username": self.api.username, "name": self.api.bot_user["first_name"]},
            "people": [person.to_json() for person in self.people.values()],
            "admin_ids": sorted(self.admin_ids),
            "people_limit": PEOPLE_LIMIT,
            "messages_kept": MESSAGES_KEPT,
        }
