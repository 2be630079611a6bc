"""The playground's page (`/playground/`) and its API (`/api/playground/...`): the people the
visitor plays, what each does in their chats, and a stream of what arrives there. Mounted only
when the program runs the bot against its own stand-in (no BOT_TOKEN): otherwise these paths do
not exist (404)."""

import json
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from api.deps import WebAppDep
from api.messages import say
from api.replies import refusal
from api.webapp import PAGE_HEADERS, serve
from playground.people import Playground, PlaygroundError

PAGE = "playground.html"
KEEPALIVE_SECONDS = 15  # a comment on an idle stream, so that proxies keep it open


class NewPerson(BaseModel):
    name: str = Field(max_length=200)
    language: str = Field(max_length=8)
    phone: str = Field(max_length=40)
    id: int | None = None


class Text(BaseModel):
    text: str = Field(max_length=10_000)


class Contact(BaseModel):
    phone: str | None = Field(default=None, max_length=40)  # unset: the person's own


class Press(BaseModel):
    message_id: int
    data: str = Field(max_length=200)


class InlineQuery(BaseModel):
    query: str = Field(default="", max_length=256)


class InlineResult(BaseModel):
    query_id: int
    result_id: str = Field(max_length=64)
    to: int


class Share(BaseModel):
    to: int
    text: str = Field(max_length=10_000)


class Blocked(BaseModel):
    blocked: bool


def json_answer(body: Any, status: int = 200) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(content, status, media_type="application/json")


class PlaygroundRoute(APIRoute):
    """A route whose refusals (PlaygroundError) answer `{"message": ...}` in the request's
    language, as every refusal of the API does."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except PlaygroundError as error:
                return refusal(error.status, say(error.key))

        return handle


def create_playground_router(playground: Playground) -> APIRouter:
    """The routes over `playground`; each translates the playground's outcome, nothing more."""
    router = APIRouter(include_in_schema=False, route_class=PlaygroundRoute)
    people = "/api/playground/people/{person_id}"

    @router.api_route("/playground/", methods=["GET", "HEAD"])
    async def page(request: Request, web_app: WebAppDep) -> Response:
        return serve(request, web_app.assets.pages[PAGE], PAGE_HEADERS)

    @router.get("/api/playground/")
    async def describe() -> Response:
        return json_answer(playground.describe())

    @router.post("/api/playground/people/")
    async def add_person(body: NewPerson) -> Response:
        person = playground.add_person(body.name, body.language, body.phone, body.id)
        return json_answer(person.to_json(), 201)

    @router.get(people + "/")
    async def read_chats(person_id: int) -> Response:
        return json_answer(playground.chats(person_id))

    @router.post(people + "/messages/")
    async def send_text(person_id: int, body: Text) -> Response:
        return json_answer(await playground.send_text(person_id, body.text))

    @router.post(people + "/contact/")
    async def send_contact(person_id: int, body: Contact) -> Response:
        return json_answer(await playground.send_contact(person_id, body.phone))

    @router.post(people + "/press/")
    async def press(person_id: int, body: Press) -> Response:
        playground.press(person_id, body.message_id, body.data)
        return json_answer({"pressed": True})

    @router.post(people + "/inline/")
    async def inline_query(person_id: int, body: InlineQuery) -> Response:
        return json_answer({"query_id": playground.inline_query(person_id, body.query)})

    @router.post(people + "/inline/result/")
    async def send_inline_result(person_id: int, body: InlineResult) -> Response:
        sent = playground.send_inline_result(person_id, body.query_id, body.result_id, body.to)
        return json_answer(sent)

    @router.post(people + "/share/")
    async def share(person_id: int, body: Share) -> Response:
        return json_answer(playground.share(person_id, body.to, body.text))

    @router.put(people + "/blocked/")
    async def set_blocked(person_id: int, body: Blocked) -> Response:
        playground.block(person_id, body.blocked)
        return json_answer({"blocked": body.blocked})

    @router.get(people + "/events/")
    async def events(person_id: int) -> Response:
        """Server-sent events: each a JSON object of what arrived in the person's chats."""
        return StreamingResponse(
            server_sent(playground.follow(person_id, idle=KEEPALIVE_SECONDS)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get("/api/playground/files/{file_id}")
    async def file(file_id: str) -> Response:
        name, content = playground.file(file_id)
        image = content.startswith(b"\x89PNG")
        disposition = "inline" if image else "attachment"
        headers = {
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "private, max-age=31536000, immutable",  # a file_id never changes
            "X-Content-Type-Options": "nosniff",
        }
        media_type = "image/png" if image else "application/octet-stream"
        return Response(content, media_type=media_type, headers=headers)

    return router


async def server_sent(events: AsyncIterator[dict[str, Any] | None]) -> AsyncIterator[bytes]:
    """`events` as server-sent events; a comment for each idle moment (None)."""
    yield b": open\n\n"
    async for event in events:
        if event is None:
            yield b": idle\n\n"
        else:
            data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
            yield f"data: {data}\n\n".encode()
