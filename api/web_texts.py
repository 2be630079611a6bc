"""The web app's texts: the gettext catalogs `locales/<language>/LC_MESSAGES/web.po` (symbolic
msgids such as `web-login-title`), read with Babel at start-up and served to the page as JSON.

A plural text becomes an object keyed by CLDR plural category (`one`, `few`, `many`, `other`), so
that the page picks its form with `Intl.PluralRules`. Which gettext form is which category is
worked out from the catalog's own `Plural-Forms` and the language's CLDR rules, not written down
a second time here.
"""

import gettext
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "web"
LANGUAGES = ("en", "ru")  # the first is the fallback of a text missing in another language
PLURAL_SAMPLES = range(200)  # gettext rules repeat every 100 (past the first hundred or two)

Text = str | dict[str, str]


class CatalogError(Exception):
    """A catalog cannot be served as it is; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class WebTexts:
    language: str
    texts: dict[str, Text]
    body: bytes  # the JSON the page receives


def catalog_path(language: str, directory: Path = LOCALES_DIR) -> Path:
    return directory / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, domain=DOMAIN)


def plural_categories(catalog: Catalog) -> list[str]:
    """The CLDR category of each gettext plural form of the catalog, in form order: for Russian
    `one, few, many` (1 друг, 2 друга, 5 друзей), for English `one, other`."""
    assert catalog.locale is not None
    form_of = gettext.c2py(catalog.plural_expr)
    rule = Locale.parse(catalog.locale).plural_form
    categories: list[set[str]] = [set() for _ in range(catalog.num_plurals)]
    for number in PLURAL_SAMPLES:
        categories[form_of(number)].add(rule(number))
    if any(len(found) != 1 for found in categories):
        raise CatalogError(
            f"{catalog.locale}: Plural-Forms {catalog.plural_forms!r} do not match the language's "
            f"plural rules (forms meet categories {categories})"
        )
    return [found.pop() for found in categories]


def catalog_texts(catalog: Catalog) -> dict[str, Text]:
    """Every translated message of the catalog by msgid; untranslated and fuzzy ones are left out
    (the caller falls back to another language)."""
    categories = plural_categories(catalog)
    texts: dict[str, Text] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        if message.pluralizable:
            forms = list(message.string or ())
            if len(forms) == len(categories) and all(forms):
                texts[message.id[0]] = dict(zip(categories, forms, strict=True))
        elif message.string:
            texts[str(message.id)] = str(message.string)
    return texts


@cache  # read once per process: the catalogs change with a new release, not while it runs
def load_web_texts(directory: Path = LOCALES_DIR) -> Mapping[str, WebTexts]:
    """The texts of every language, each completed from the first language where it lacks one."""
    by_language = {
        language: catalog_texts(read_catalog(catalog_path(language, directory)))
        for language in LANGUAGES
    }
    fallback = by_language[LANGUAGES[0]]
    loaded = {}
    for language, texts in by_language.items():
        complete = {**fallback, **texts}
        body = json.dumps(
            {"language": language, "texts": complete}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        loaded[language] = WebTexts(language, complete, body)
    return loaded
