"""The referral service as the front ends (the bot, the HTTP API) and the jobs reach it: one
object holding every area, each over the same connections (db/connections.py)."""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from db.addresses import AddressRequests
from db.broadcasts import Broadcasts
from db.codes import new_invite_code
from db.connections import Connections, Database
from db.events import EventOutbox
from db.growth import Growth
from db.invitations import Invitations
from db.members import Members
from db.operators import Operators
from db.phones import PhoneDisplay
from db.privacy import Privacy
from db.referrals import Referrals
from delivery import CodeDelivery, create_delivery
from settings import Qualify, Settings

AT_ACTIVATION = Qualify("activation")  # QUALIFY's default


def utcnow() -> datetime:
    return datetime.now(UTC)


class ReferralService:
    """The areas of the service as attributes: `service.members.verify_code(...)`,
    `service.invitations.activate_invite(...)`, `service.operators.block(...)`,
    `service.referrals.qualify(...)`, ..."""

    def __init__(
        self,
        connections: Connections,
        *,
        signing_key: bytes,
        delivery: CodeDelivery,
        code_length: int = 4,
        code_ttl: int = 300,
        resend_cooldown: int = 60,
        hourly_limit: int = 5,
        default_region: str = "RU",
        show_full_phones: bool = False,
        admin_ids: Iterable[int] = (),
        milestones: Iterable[int] = (5, 10, 25, 50, 100),
        qualify: Qualify = AT_ACTIVATION,
        hold_days: int = 0,
        clock: Callable[[], datetime] = utcnow,
        invite_code_factory: Callable[[], str] = new_invite_code,
    ) -> None:
        self.database = Database(connections)
        self._clock = clock
        self.phones = PhoneDisplay(full_referrals=show_full_phones)
        self.members = Members(
            self.database,
            signing_key=signing_key,
            delivery=delivery,
            code_length=code_length,
            code_ttl=code_ttl,
            resend_cooldown=resend_cooldown,
            hourly_limit=hourly_limit,
            default_region=default_region,
            clock=clock,
            invite_code_factory=invite_code_factory,
        )
        self.growth = Growth(self.database, milestones=milestones, phones=self.phones, clock=clock)
        self.referrals = Referrals(
            self.database,
            qualify=qualify,
            hold_days=hold_days,
            milestones=self.growth.milestones,
            clock=clock,
        )
        self.invitations = Invitations(
            self.database,
            milestones=self.growth.milestones,
            referrals=self.referrals,
            phones=self.phones,
            clock=clock,
        )
        self.privacy = Privacy(self.database, phones=self.phones, clock=clock)
        self.operators = Operators(
            self.database, admin_ids=admin_ids, default_region=default_region, clock=clock
        )
        self.events = EventOutbox(self.database)
        self.broadcasts = Broadcasts(self.database)
        self.addresses = AddressRequests(self.database, clock=clock)

    @property
    def connections(self) -> Connections:
        """The pool the service runs on (for its size in metrics, and tests' own statements)."""
        return self.database.connections

    @property
    def delivery(self) -> CodeDelivery:
        """How verification codes reach people (closed at shutdown)."""
        return self.members.delivery

    def now(self) -> datetime:
        """The service's time (a test's clock in tests)."""
        return self._clock()

    async def ping(self, *, timeout: float) -> None:  # noqa: ASYNC109
        """A round trip to the database within `timeout` seconds; raises DatabaseUnavailable."""
        await self.database.ping(timeout=timeout)


def create_service(connections: Connections, settings: Settings) -> ReferralService:
    """The service configured by the program's settings."""
    token = settings.telegram_gateway_token
    delivery = create_delivery(
        settings.code_delivery,
        chat_delay=settings.code_chat_delay,
        gateway_token=token.get_secret_value() if token else "",
        gateway_url=settings.telegram_gateway_url,
    )
    return ReferralService(
        connections,
        signing_key=settings.signing_key(),
        delivery=delivery,
        code_length=settings.code_length,
        code_ttl=settings.code_ttl,
        resend_cooldown=settings.code_resend_cooldown,
        hourly_limit=settings.code_hourly_limit,
        default_region=settings.default_region,
        show_full_phones=settings.referral_phone_visibility == "full",
        admin_ids=settings.admin_ids,
        milestones=settings.milestones,
        qualify=settings.qualify,
        hold_days=settings.hold_days,
    )
