"""Every update is counted by type and outcome, and timed."""

from aiogram import Dispatcher
from aiogram.filters import Command

from metrics import REGISTRY
from tests.bot.conftest import People


def counted(outcome: str, kind: str = "message") -> float:
    labels = {"type": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("referral_updates_total", labels) or 0.0


def timed(kind: str = "message") -> float:
    labels = {"type": kind}
    return REGISTRY.get_sample_value("referral_update_handling_seconds_count", labels) or 0.0


async def test_updates_by_type_and_outcome(people: People, dispatcher: Dispatcher) -> None:
    async def broken(message: object) -> None:
        raise RuntimeError("a bug")

    dispatcher.message.register(broken, Command("broken"))
    before = counted("handled"), counted("error"), timed()
    someone = people()
    await someone.send("/help")
    await someone.send("/broken")
    assert counted("handled") - before[0] == 1
    assert counted("error") - before[1] == 1
    assert timed() - before[2] == 2
