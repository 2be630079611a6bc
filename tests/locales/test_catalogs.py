"""The catalogs: every message in every language, with the same placeholders, plurals right."""

import re
import string

import pytest
from babel.messages.pofile import read_po

from locales import LOCALES_DIR, create_i18n, language_of

LANGUAGES = ("en", "ru")


def catalog(language: str, domain: str = "messages") -> dict[str, list[str]]:
    """msgid -> its translations (one, or one per plural form)."""
    with (LOCALES_DIR / language / "LC_MESSAGES" / f"{domain}.po").open("rb") as source:
        entries = read_po(source)
    return {
        message.id if isinstance(message.id, str) else message.id[0]: (
            list(message.string) if isinstance(message.string, tuple) else [message.string]
        )
        for message in entries
        if message.id
    }


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_is_translated_with_the_same_placeholders() -> None:
    """The bot's and the API's catalog (the web app's, `web.po`, has tests/web/test_catalogs.py)."""
    catalogs = {language: catalog(language) for language in LANGUAGES}
    ids = set().union(*catalogs.values())
    for language, messages in catalogs.items():
        assert set(messages) == ids, f"{language} lacks {sorted(ids - set(messages))}"
    for message_id in ids:
        expected = placeholders(catalogs["en"][message_id][0])
        for language, messages in catalogs.items():
            for form in messages[message_id]:
                assert form, f"{language}: {message_id} is empty"
                assert placeholders(form) == expected, (language, message_id, form)


def test_every_message_the_code_asks_for_is_in_the_catalogs() -> None:
    """Each literal id the bot passes to `_()`, `plural()` or `gettext()`, and each `api-` id of
    the HTTP API, exists."""
    ids = set(catalog("en"))
    used = set()
    for path in (LOCALES_DIR.parent / "bot").rglob("*.py"):
        used |= set(re.findall(r'\b(?:_|plural|gettext)\(\s*"([a-z-]+)"', path.read_text()))
    for path in [
        *(LOCALES_DIR.parent / "api").rglob("*.py"),
        LOCALES_DIR.parent / "playground/people.py",
    ]:
        used |= set(re.findall(r'"(api-[a-z-]+)"', path.read_text()))
    assert any(i.startswith("api-") for i in used) and used <= ids, sorted(used - ids)


@pytest.mark.parametrize(
    ("count", "friends", "attempts"),
    [
        (1, "пришёл 1 друг", "Осталась 1 попытка"),
        (2, "пришли 2 друга", "Осталось 2 попытки"),
        (5, "пришли 5 друзей", "Осталось 5 попыток"),
        (11, "пришли 11 друзей", "Осталось 11 попыток"),
        (21, "пришёл 21 друг", "Осталась 21 попытка"),
        (22, "пришли 22 друга", "Осталось 22 попытки"),
    ],
)
def test_russian_plural_forms(count: int, friends: str, attempts: str) -> None:
    i18n = create_i18n("en")
    said = i18n.gettext("referrals-count", "referrals-count", count, locale="ru")
    assert friends in said.format(count=count)
    said = i18n.gettext("wrong-code", "wrong-code", count, locale="ru")
    assert attempts in said.format(count=count)


@pytest.mark.parametrize(
    ("tag", "language"),
    [("ru", "ru"), ("ru-RU", "ru"), ("RU", "ru"), ("en-GB", "en"), ("de", "en"), (None, "en")],
)
def test_language_tags_pick_a_catalog(tag: str | None, language: str) -> None:
    assert language_of(tag, LANGUAGES, "en") == language
