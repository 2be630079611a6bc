"""`/privacy`, `/mydata` and `/delete` through the bot."""

import json
import logging
import re

import pytest
from aiogram import Bot
from aiogram.methods import EditMessageText, SendDocument
from aiogram.types import BufferedInputFile

from db.phones import mask_phone
from db.results import InviteOutcome
from db.service import ReferralService
from tests.bot.conftest import People, shown_code, texts_of
from tests.conftest import en, join


async def test_privacy_answers_anybody_in_their_language(people: People) -> None:
    [english] = texts_of(await people().send("/privacy"))
    assert english.startswith("<b>Your data in this bot</b>")
    assert "/mydata" in english and "/delete" in english
    assert en("privacy-no-contact") in english
    [russian] = texts_of(await people("ru").send("/privacy"))
    assert russian.startswith("<b>Ваши данные в этом боте</b>")


async def test_mydata_sends_the_members_data_as_json(
    people: People, service: ReferralService
) -> None:
    owner, friend = people(), people()
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    member = await join(service, friend.phone, telegram_id=friend.id)
    await service.invitations.activate_invite(member.id, inviter.invite_code)

    [sent] = await owner.send("/mydata")
    assert isinstance(sent, SendDocument) and isinstance(sent.document, BufferedInputFile)
    assert sent.caption == en("mydata-caption")
    document = json.loads(sent.document.data)
    assert document["phone"] == owner.phone and document["telegram_id"] == owner.id
    assert document["invite_code"] == inviter.invite_code and document["inviter_code"] is None
    assert [r["phone"] for r in document["referrals"]] == [mask_phone(friend.phone)]


async def test_delete_asks_first_and_cancel_keeps_everything(
    people: People, service: ReferralService
) -> None:
    person = people()
    await join(service, person.phone, telegram_id=person.id)
    assert texts_of(await person.send("/delete")) == [en("delete-confirm")]
    kept = await person.press("Cancel")
    assert [m.text for m in kept if isinstance(m, EditMessageText)] == [en("delete-kept")]
    assert await service.members.member_by_telegram(person.id) is not None


async def test_delete_erases_the_member_and_a_stale_button_is_harmless(
    people: People, service: ReferralService
) -> None:
    owner, person = people(), people()
    inviter = await join(service, owner.phone, telegram_id=owner.id)
    member = await join(service, person.phone, telegram_id=person.id)
    await service.invitations.activate_invite(member.id, inviter.invite_code)

    await person.send("/delete")
    erased = await person.press("Delete my data")
    assert [m.text for m in erased if isinstance(m, EditMessageText)] == [en("delete-done")]
    assert await service.members.member_by_telegram(person.id) is None
    assert texts_of(await person.send("/me")) == [en("share-phone-first")]
    stale = await person.press("Delete my data")
    assert texts_of(stale) == [en("share-phone-first")]  # nothing more to erase

    refs = texts_of(await owner.send("/refs"))[0]
    assert refs.startswith("People who joined with your code: 1")
    assert "1. deleted member," in refs
    stranger = await join(service)
    activation = await service.invitations.activate_invite(stranger.id, member.invite_code)
    assert activation.outcome is InviteOutcome.UNKNOWN

    # The same phone again is a new member, with a new code.
    again = await person.verify()
    assert texts_of(again)[0] == en("welcome-new") + "\n\n" + en("menu")
    returned = await service.members.member_by_telegram(person.id)
    assert returned is not None and returned.id != member.id
    assert returned.invite_code != member.invite_code and returned.inviter_id is None


async def test_logs_of_the_whole_flow_hold_no_phone_code_or_token(
    people: People, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    person = people("ru")
    with caplog.at_level(logging.DEBUG):
        await person.send("/start")
        code = shown_code(await person.share_contact())
        await person.send(code)
        for command in ("/code", "/me", "/mydata", "/privacy", "/language", "/delete"):
            await person.send(command)
        await person.press("Удалить мои данные")
    logged = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    assert "erased their data" in logged
    assert person.phone[1:] not in logged and person.phone[-10:] not in logged
    assert not re.search(rf"\b{code}\b", logged)
    assert bot.token not in logged
