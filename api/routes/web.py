"""What the web app reads before it shows anything: this server's description
(`GET /api/web-app/`) and the texts of a language (`GET /api/texts/{language}/`)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.docs import COMMON_ERRORS, documented_error
from api.models import WebAppDescription, WebAppTexts
from api.replies import answer, refusal
from api.routing import slash_optional
from api.sharing import invite_links
from api.texts import english, say
from api.web import FOREVER, WebAssets
from api.web_texts import LANGUAGES, WebTexts

router = APIRouter(prefix="/api", tags=["web app"])

UNKNOWN_LANGUAGE = "api-unknown-language"  # catalog id (locales/)


@slash_optional(
    router,
    "/web-app",
    method="GET",
    operation_id="describeWebApp",
    summary="What the web app needs to know about this server",
    response_model=WebAppDescription,
    responses=COMMON_ERRORS,
)
async def describe_web_app(request: Request) -> Response:
    """How codes are delivered and how long they are, where invite links point, which languages
    the texts come in."""
    state = request.app.state
    links = invite_links(request)
    description = WebAppDescription(
        bot_username=links.bot_username,
        invite_link=links.template(request),
        code_delivery=state.code_delivery,
        code_length=state.service.code_length,
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
    request: Request, language: Language, version: TextsVersion = None
) -> Response:
    """Every text of the page by its msgid (from `locales/<language>/LC_MESSAGES/web.po`); a text
    with plural forms is an object keyed by CLDR plural category (`one`, `few`, `many`, `other`)."""
    texts: dict[str, WebTexts] = request.app.state.web_texts
    found = texts.get(language)
    if found is None:
        return refusal(404, say(UNKNOWN_LANGUAGE, languages=", ".join(LANGUAGES)))
    assets: WebAssets = request.app.state.web_assets
    cache = FOREVER if version == assets.version else "no-cache"
    headers = {"Cache-Control": cache, "Content-Language": language}
    return Response(found.body, headers=headers, media_type="application/json")
