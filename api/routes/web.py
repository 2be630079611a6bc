"""The web app: the page at `/` and its assets at `/web/<version>/<file>` (api/webapp.py holds
them), and what the page reads before it shows anything: this server's description
(`GET /api/web-app/`) and the texts of a language (`GET /api/texts/{language}/`)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from api.deps import StateDep, WebAppDep
from api.messages import english, say
from api.models import WebAppDescription, WebAppTexts
from api.openapi import COMMON_ERRORS, documented_error
from api.replies import answer, refusal
from api.routing import slash_optional
from api.webapp import LANGUAGES, PAGE_HEADERS, serve
from db.codes import INVITE_ALPHABET, INVITE_LENGTH

router = APIRouter(prefix="/api", tags=["web app"])
# The page and its assets, outside the API's document; served after every other route.
files_router = APIRouter(include_in_schema=False)

UNKNOWN_LANGUAGE = "api-unknown-language"  # catalog id (locales/)


@files_router.api_route("/", methods=["GET", "HEAD"])
async def page(request: Request, web_app: WebAppDep) -> Response:
    """The web app: one page, whatever its query (`?ref=CODE`) or fragment (Telegram's)."""
    return serve(request, web_app.assets.page, PAGE_HEADERS)


@files_router.api_route("/web/{version}/{name}", methods=["GET", "HEAD"])
async def asset(request: Request, web_app: WebAppDep, version: str, name: str) -> Response:
    """An asset, kept for good under the current version."""
    found = web_app.assets.assets.get(name)
    if found is None:
        raise HTTPException(404)
    headers = {"Cache-Control": web_app.cache_control(version), "X-Content-Type-Options": "nosniff"}
    return serve(request, found, headers)


@slash_optional(
    router,
    "/web-app",
    method="GET",
    operation_id="describeWebApp",
    summary="What the web app needs to know about this server",
    response_model=WebAppDescription,
    responses=COMMON_ERRORS,
)
async def describe_web_app(request: Request, state: StateDep) -> Response:
    """How codes are delivered and how long they are, where invite links point, which languages
    the texts come in."""
    description = WebAppDescription(
        bot_username=state.invite_links.bot_username,
        invite_link=state.invite_links.template(base_url=str(request.base_url)),
        code_delivery=state.code_delivery,
        code_length=state.service.members.code_length,
        invite_code_alphabet=INVITE_ALPHABET,
        invite_code_length=INVITE_LENGTH,
        languages=list(LANGUAGES),
        default_language=state.default_language,  # DEFAULT_LANGUAGE
    )
    return answer(200, description, headers={"Cache-Control": "no-cache"})


Language = Annotated[str, Path(description="A language code: `en` or `ru`.")]
TextsVersion = Annotated[
    str | None,
    Query(
        alias="v",
        description="The web app's version (in its assets' URLs): when it is the current one, "
        "the answer may be kept for good.",
    ),
]


@slash_optional(
    router,
    "/texts/{language}",
    method="GET",
    operation_id="readWebAppTexts",
    summary="The web app's texts in one language",
    response_model=WebAppTexts,
    responses={
        404: documented_error(
            "No texts in this language.",
            unknown_language=english(UNKNOWN_LANGUAGE, languages=", ".join(LANGUAGES)),
        ),
        **COMMON_ERRORS,
    },
)
async def read_web_app_texts(
    web_app: WebAppDep, language: Language, version: TextsVersion = None
) -> Response:
    """Every text of the page by its msgid (from `locales/<language>/LC_MESSAGES/web.po`); a text
    with plural forms is an object keyed by CLDR plural category (`one`, `few`, `many`, `other`)."""
    found = web_app.texts.get(language)
    if found is None:
        return refusal(404, say(UNKNOWN_LANGUAGE, languages=", ".join(LANGUAGES)))
    headers = {"Cache-Control": web_app.cache_control(version), "Content-Language": language}
    return Response(found.body, headers=headers, media_type="application/json")
