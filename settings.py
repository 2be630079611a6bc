"""Settings of the whole program, read from the environment and `.env`."""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import phonenumbers
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

WEBHOOK_SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line that names it."""


QUALIFY_SHAPE = "must be activation, in_chats, in_chats:<N>d (N 1-365), manual or external"
QUALIFY_PATTERN = re.compile(r"^(activation|in_chats|manual|external|in_chats:([1-9][0-9]{0,2})d)$")


class Qualify(NamedTuple):
    """QUALIFY: what a referral waits for before it counts (`rule`), and for `in_chats:<N>d`
    the days (`days`, else 0)."""

    rule: Literal["activation", "in_chats", "manual", "external"]
    days: int = 0

    @classmethod
    def parse(cls, value: str) -> Qualify:
        """Raises ValueError for anything but QUALIFY's shapes."""
        found = QUALIFY_PATTERN.match(value.strip().lower())
        if found is None or int(found.group(2) or 0) > 365:
            raise ValueError(QUALIFY_SHAPE)
        if found.group(2):
            return cls("in_chats", int(found.group(2)))
        rule: Literal["activation", "in_chats", "manual", "external"] = found.group(1)  # type: ignore[assignment]
        return cls(rule)


MILESTONES_SHAPE = "must be positive whole numbers, comma-separated, such as 5,10,25"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    bot_token: SecretStr | None = None
    database_url: str | None = None
    data_dir: Path = Path(".data")
    redis_url: str | None = None
    telegram_api_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    web_host: str = "0.0.0.0"
    web_port: int = Field(8080, ge=0, le=65535)
    web_workers: int | None = Field(None, ge=1, le=64)
    forwarded_allow_ips: str | None = None
    web_app_url: str | None = None

    code_delivery: Literal["chat", "log", "telegram_gateway"] = "log"
    code_chat_delay: float = Field(1.0, ge=0, le=10)
    telegram_gateway_token: SecretStr | None = None
    telegram_gateway_url: str = "https://gatewayapi.telegram.org"
    code_length: int = Field(4, ge=4, le=8)
    code_ttl: int = Field(300, ge=30, le=86400)
    code_resend_cooldown: int = Field(60, ge=0, le=86400)
    code_hourly_limit: int = Field(5, ge=1, le=1000)

    secret_key: SecretStr | None = Field(None, min_length=32)
    jwt_ttl: int = Field(86400, ge=60)
    api_address_hourly_limit: int = Field(60, ge=1)
    default_region: str = "RU"
    referral_phone_visibility: Literal["masked", "full"] = "masked"
    flood_rate: float = Field(3.0, ge=0)
    flood_burst: int = Field(6, ge=1)
    admin_ids: Annotated[list[int], NoDecode] = []
    milestones: Annotated[tuple[int, ...], NoDecode] = (5, 10, 25, 50, 100)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    default_language: Literal["en", "ru"] = "en"
    privacy_contact: str | None = None
    privacy_policy_url: str | None = None
    log_format: Literal["text", "json"] = "text"
    events_url: Annotated[list[str], NoDecode] = []
    events_secret: SecretStr | None = None
    events_include_phones: bool = False
    metrics_token: SecretStr | None = None
    qualify: Annotated[Qualify, NoDecode] = Qualify("activation")
    hold_days: int = Field(0, ge=0, le=365)
    admin_api_token: SecretStr | None = Field(None, min_length=32)

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in ("postgres", "postgresql", "postgresql+asyncpg"):
            raise ValueError("must start with postgresql:// or postgresql+asyncpg://")
        return f"postgresql+asyncpg://{rest}"

    @field_validator(
        "telegram_api_url", "webhook_url", "redis_url", "privacy_contact", "privacy_policy_url"
    )
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("web_workers", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str | None) -> str | None:
        parts = [part.strip() for part in (value or "").split(",") if part.strip()]
        try:
            for part in parts:
                if part != "*":
                    ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValueError("must be comma-separated addresses or networks, or *") from None
        return ",".join(parts) or None

    @field_validator("web_app_url")
    @classmethod
    def _public_https(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith("https://") or len(value) <= len("https://"):
            raise ValueError("must be the web app's public https:// address (Telegram needs https)")
        return value

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be a two-letter region code such as RU, GB or US")
        return region

    @field_validator("default_language", mode="before")
    @classmethod
    def _lower_language(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("milestones", mode="before")
    @classmethod
    def _milestone_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parts = [part.strip() for part in value.split(",") if part.strip()]
        if not all(part.isascii() and part.isdigit() for part in parts):
            raise ValueError(MILESTONES_SHAPE)
        return [int(part) for part in parts]

    @field_validator("milestones")
    @classmethod
    def _positive_milestones(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        """In order, once each, whether read from the environment or given in code."""
        if any(goal <= 0 or goal > 10**9 for goal in value):
            raise ValueError(MILESTONES_SHAPE)
        return tuple(sorted(set(value)))

    @field_validator("qualify", mode="before")
    @classmethod
    def _qualify_rule(cls, value: Any) -> Any:
        return Qualify.parse(value) if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("events_url", mode="before")
    @classmethod
    def _receivers(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for url in value:
            if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
                raise ValueError("must be http(s) URLs, comma-separated")
        return value

    @field_validator("events_secret", "metrics_token", "admin_api_token", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: Any) -> Any:
        return value or None

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET_PATTERN.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _dependent_settings(self) -> Settings:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("WEBHOOK_SECRET: required when WEBHOOK_URL is set")
        if self.events_url and not self.events_secret:
            raise ValueError("EVENTS_SECRET: required when EVENTS_URL is set (receivers check it)")
        if self.privacy_policy_url and not self.privacy_policy_url.startswith("https://"):
            raise ValueError("PRIVACY_POLICY_URL: must be an https:// address")
        if self.webhook_url and not self.webhook_url.startswith(("https://", "http://")):
            raise ValueError("WEBHOOK_URL: must be an http(s) URL")
        if self.code_delivery == "telegram_gateway" and not self.telegram_gateway_token:
            raise ValueError(
                "TELEGRAM_GATEWAY_TOKEN: required when CODE_DELIVERY is telegram_gateway"
            )
        if self.code_delivery == "telegram_gateway" and not 30 <= self.code_ttl <= 3600:
            raise ValueError(
                "CODE_TTL: must be 30-3600 seconds with CODE_DELIVERY=telegram_gateway "
                f"(the Gateway's limits; got {self.code_ttl})"
            )
        return self

    def signing_key(self) -> bytes:
        """The server secret: `SECRET_KEY`, or one generated once and kept in `DATA_DIR`."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()


URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")


def _without_password(given: Any) -> Any:
    """A setting's value as it may be shown: a URL's password (DATABASE_URL, REDIS_URL) hidden."""
    return URL_PASSWORD.sub(r"\1***@", given) if isinstance(given, str) else given


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning the first problem into a one-line `SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else ""
        message = first["msg"].removeprefix("Value error, ")
        if not name:
            raise SettingsError(f"setting {message}") from None
        given = first.get("input")
        shown = (
            ""
            if isinstance(given, dict) or name.endswith(("TOKEN", "KEY", "SECRET"))
            else (f" (got {_without_password(given)!r})")
        )
        raise SettingsError(f"setting {name}: {message}{shown}") from None
