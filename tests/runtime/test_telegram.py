"""What the bot asks Telegram for: the same updates by polling and by webhook, and those it
handles."""

from pydantic import SecretStr

from bot import create_dispatcher
from db.service import ReferralService
from runtime.telegram import ALLOWED_UPDATES
from settings import Settings


def test_the_updates_asked_for_are_those_the_dispatcher_handles(service: ReferralService) -> None:
    settings = Settings(_env_file=None, bot_token=SecretStr("42:TEST"))
    dispatcher = create_dispatcher(service=service, settings=settings)
    assert sorted(ALLOWED_UPDATES) == dispatcher.resolve_used_update_types()
