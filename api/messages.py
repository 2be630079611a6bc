"""The API's `message` texts, from the same catalogs as the bot's (`locales/`, ids `api-...`):
English, as the original API spoke, or the language `Accept-Language` prefers among those the
catalogs have (`ru`). Field names and statuses never change with the language."""

from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

from locales import create_i18n, language_of

DEFAULT_LANGUAGE = "en"  # the original contract's language, whatever the bot's default is
CATALOGS = create_i18n(DEFAULT_LANGUAGE)
_language: ContextVar[str] = ContextVar("api_language", default=DEFAULT_LANGUAGE)


def say(message_id: str, **values: object) -> str:
    """The message in the language of the request being answered."""
    text = CATALOGS.gettext(message_id, locale=_language.get())
    return text.format(**values) if values else text


def english(message_id: str, **values: object) -> str:
    """The message in English: the examples of the OpenAPI document."""
    text = CATALOGS.gettext(message_id, locale=DEFAULT_LANGUAGE)
    return text.format(**values) if values else text


def preferred_language(accept_language: str, available: tuple[str, ...]) -> str:
    """The first language of an `Accept-Language` header, by weight, that a catalog has."""
    ranked = []
    for position, entry in enumerate(accept_language.split(",")):
        tag, _, weight = entry.strip().partition(";q=")
        try:
            quality = float(weight) if weight else 1.0
        except ValueError:
            continue
        language = language_of(tag, available, default="")
        if language and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


class RequestLanguage:
    """ASGI middleware: the language of each request's messages, from `Accept-Language`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.available = CATALOGS.available_locales

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"accept-language":
                    language = preferred_language(value.decode("latin-1"), self.available)
                    token = _language.set(language)
                    try:
                        await self.app(scope, receive, send)
                    finally:
                        _language.reset(token)
                    return
        await self.app(scope, receive, send)
