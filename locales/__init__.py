"""The texts people read, in every language the program speaks: gettext catalogs
(`<language>/LC_MESSAGES/messages.po`, symbolic message ids) read with Babel and served through
aiogram's `I18n`, so the bot and the HTTP API share one source of truth per language.

Catalogs are compiled in memory when the program starts: a fresh clone needs no compile step,
and nothing is written next to the sources. A third language is one more folder (see README).
"""

import gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent
DOMAIN = "messages"


def read_catalogs(
    path: Path = LOCALES_DIR, domain: str = DOMAIN
) -> dict[str, gettext.GNUTranslations]:
    """Each `<language>/LC_MESSAGES/<domain>.po` under `path`, compiled in memory."""
    translations = {}
    for po_path in sorted(path.glob(f"*/LC_MESSAGES/{domain}.po")):
        with po_path.open("rb") as source:
            catalog = read_po(source)
        compiled = io.BytesIO()
        write_mo(compiled, catalog, use_fuzzy=False)
        compiled.seek(0)
        translations[po_path.parents[1].name] = gettext.GNUTranslations(compiled)
    return translations


class Catalogs(I18n):
    """aiogram's `I18n` over the `.po` catalogs themselves rather than compiled `.mo` files."""

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        return read_catalogs(self.path, self.domain)

    @contextmanager
    def context(self) -> Iterator[I18n]:
        # aiogram's `gettext` finds the current `I18n` by that class, and each subclass would
        # have a context of its own.
        token = I18n.set_current(self)
        try:
            yield self
        finally:
            I18n.reset_current(token)


def create_i18n(default_language: str) -> Catalogs:
    return Catalogs(path=LOCALES_DIR, default_locale=default_language, domain=DOMAIN)


def language_of(language_code: str | None, available: tuple[str, ...], default: str) -> str:
    """The catalog for a language tag such as Telegram's `language_code` or a browser's
    `Accept-Language` entry (`ru`, `ru-RU`, `en-GB`), or `default` when none fits."""
    if language_code:
        primary = language_code.split("-", 1)[0].split("_", 1)[0].strip().lower()
        if primary in available:
            return primary
    return default
