"""The web app's catalogs (locales/<language>/LC_MESSAGES/web.po): every text in every language,
with the same placeholders, right plural forms, and exactly the texts the page uses."""

import html
import re
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog, Message

from api.webapp import LANGUAGES, catalog_path, load_web_texts, plural_categories, read_catalog

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# The keys the page names: data-i18n*="web-..." in the HTML, 'web-...' in the modules.
USED_IN_HTML = re.compile(r'data-i18n(?:-[a-z-]+)?="(web-[a-z0-9-]+)"')
USED_IN_JS = re.compile(r"'(web-[a-z0-9-]+)'")
# An element whose English text stands in the HTML (what shows if the texts cannot be loaded).
DEFAULT_TEXT = re.compile(r'<\w+\b[^>]*\bdata-i18n="(web-[a-z0-9-]+)"[^>]*>([^<]+)</\w+>')


def catalogs() -> dict[str, Catalog]:
    return {language: read_catalog(catalog_path(language)) for language in LANGUAGES}


def messages(catalog: Catalog) -> dict[str, Message]:
    found = {}
    for message in catalog:
        if message.id:
            key = message.id[0] if message.pluralizable else message.id
            found[str(key)] = message
    return found


def forms(message: Message) -> list[str]:
    if message.pluralizable:
        return [str(form) for form in message.string or ()]
    return [str(message.string or "")]


def used_keys() -> set[str]:
    used = set()
    for page in WEB_DIR.glob("*.html"):
        used |= set(USED_IN_HTML.findall(page.read_text()))
    for module in WEB_DIR.glob("*.js"):
        used |= set(USED_IN_JS.findall(module.read_text()))
    return used


def test_every_msgid_is_translated_in_every_language_with_the_same_placeholders() -> None:
    found = {language: messages(catalog) for language, catalog in catalogs().items()}
    keys = set().union(*found.values())
    problems = []
    for key in sorted(keys):
        placeholders: dict[str, set[str]] = {}  # "<language>[<form>]": placeholders
        for language, catalog_messages in found.items():
            message = catalog_messages.get(key)
            if message is None:
                problems.append(f"{key}: not in {language}")
                continue
            if message.fuzzy:
                problems.append(f"{key}: marked fuzzy in {language}")
            for index, text in enumerate(forms(message)):
                if not text.strip():
                    problems.append(f"{key}: no {language} translation")
                placeholders[f"{language}[{index}]"] = set(PLACEHOLDER.findall(text))
            if message.pluralizable and any(
                "count" not in found for found in placeholders.values()
            ):
                problems.append(f"{key}: a plural form in {language} does not show its {{count}}")
        if len({frozenset(found) for found in placeholders.values()}) > 1:
            problems.append(f"{key}: placeholders differ: {placeholders}")
    assert problems == []


def test_plural_forms_are_the_languages_own() -> None:
    found = catalogs()
    assert plural_categories(found["en"]) == ["one", "other"]
    assert plural_categories(found["ru"]) == ["one", "few", "many"]
    for language, catalog in found.items():
        for message in messages(catalog).values():
            if message.pluralizable:
                assert len(forms(message)) == catalog.num_plurals, (language, message.id)


@pytest.mark.parametrize(
    ("count", "russian"),
    [
        (1, "По вашему коду присоединился 1 друг"),
        (2, "По вашему коду присоединились 2 друга"),
        (4, "По вашему коду присоединились 4 друга"),
        (5, "По вашему коду присоединились 5 друзей"),
        (11, "По вашему коду присоединились 11 друзей"),
        (12, "По вашему коду присоединились 12 друзей"),
        (21, "По вашему коду присоединился 21 друг"),
        (22, "По вашему коду присоединились 22 друга"),
        (111, "По вашему коду присоединились 111 друзей"),
    ],
)
def test_russian_counts_take_the_right_form(count: int, russian: str) -> None:
    forms_of = load_web_texts()["ru"].texts["web-refs-count"]
    assert isinstance(forms_of, dict)
    category = Locale.parse("ru").plural_form(count)
    assert forms_of[category].format(count=count) == russian


def test_attempts_left_read_as_a_native_speaker_would() -> None:
    forms_of = load_web_texts()["ru"].texts["web-code-wrong"]
    assert forms_of == {
        "one": "Неверный код. Осталась {count} попытка.",
        "few": "Неверный код. Осталось {count} попытки.",
        "many": "Неверный код. Осталось {count} попыток.",
    }


def test_the_page_uses_exactly_the_texts_of_the_catalog() -> None:
    used = used_keys()
    defined = set(messages(catalogs()["en"]))
    assert sorted(used - defined) == [], "named by the page but in no catalog"
    assert sorted(defined - used) == [], "in the catalog but used nowhere"


def test_a_text_missing_in_one_language_is_served_in_english(tmp_path: Path) -> None:
    for language in LANGUAGES:
        source = catalog_path(language).read_text()
        if language == "ru":
            source = source.replace('msgstr "Вход"', 'msgstr ""')
        target = catalog_path(language, tmp_path)
        target.parent.mkdir(parents=True)
        target.write_text(source)
    texts = load_web_texts(tmp_path)
    assert texts["ru"].texts["web-login-title"] == "Log in"
    assert texts["ru"].texts["web-code-title"] == "Введите код"


def test_the_pages_own_english_is_the_catalogs() -> None:
    """The pages' HTML carries the English texts as written in the catalog (the failure screen
    shows them when the texts cannot be loaded), not an older copy."""
    english = load_web_texts()["en"].texts
    page = "".join(path.read_text() for path in WEB_DIR.glob("*.html"))
    defaults = {key: html.unescape(text) for key, text in DEFAULT_TEXT.findall(page)}
    assert len(defaults) > 40
    assert {key: text for key, text in defaults.items() if english.get(key) != text} == {}
