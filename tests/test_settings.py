import pytest

from settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CODE_LENGTH": "9"}, "CODE_LENGTH"),
        ({"WEB_WORKERS": "0"}, "WEB_WORKERS"),
        ({"WEB_WORKERS": "all"}, "WEB_WORKERS"),
        ({"CODE_LENGTH": "four"}, "CODE_LENGTH"),
        ({"CODE_DELIVERY": "sms"}, "CODE_DELIVERY"),
        ({"CODE_DELIVERY": "telegram_gateway"}, "TELEGRAM_GATEWAY_TOKEN"),
        (
            {
                "CODE_DELIVERY": "telegram_gateway",
                "TELEGRAM_GATEWAY_TOKEN": "t",
                "CODE_TTL": "3601",
            },
            "CODE_TTL",
        ),
        (
            {"CODE_DELIVERY": "telegram_gateway", "TELEGRAM_GATEWAY_TOKEN": "t", "CODE_TTL": "29"},
            "CODE_TTL",
        ),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"WEBHOOK_URL": "https://example.org/hook"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_URL": "https://e.org/h", "WEBHOOK_SECRET": "has space"}, "WEBHOOK_SECRET"),
        ({"DEFAULT_REGION": "XX"}, "DEFAULT_REGION"),
        ({"ADMIN_IDS": "1,two"}, "ADMIN_IDS"),
        ({"MILESTONES": "5,ten,25"}, "MILESTONES"),
        ({"MILESTONES": "5,0"}, "MILESTONES"),
        ({"MILESTONES": "5,-10"}, "MILESTONES"),
        ({"REFERRAL_PHONE_VISIBILITY": "partial"}, "REFERRAL_PHONE_VISIBILITY"),
        ({"WEB_PORT": "70000"}, "WEB_PORT"),
        ({"SECRET_KEY": "too-short"}, "SECRET_KEY"),
        ({"FORWARDED_ALLOW_IPS": "10.0.0.1, proxy.local"}, "FORWARDED_ALLOW_IPS"),
        ({"WEB_APP_URL": "http://example.org/"}, "WEB_APP_URL"),
        ({"EVENTS_URL": "https://crm.example/hook"}, "EVENTS_SECRET"),
        ({"EVENTS_URL": "https://a.example/h, ftp://b", "EVENTS_SECRET": "s"}, "EVENTS_URL"),
        ({"EVENTS_INCLUDE_PHONES": "perhaps"}, "EVENTS_INCLUDE_PHONES"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ],
)
def test_bad_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    message = str(error.value)
    assert message.startswith(f"setting {named}:") and "\n" not in message


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://e.org/h")
    monkeypatch.setenv("WEBHOOK_SECRET", "top secret value")
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    assert "top secret" not in str(error.value)


def test_a_malformed_database_url_is_shown_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://admin:hunter2-secret@db.example:3306/app")
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    assert "hunter2" not in str(error.value)
    assert "admin:***@db.example" in str(error.value)


def test_gateway_ttl_within_its_limits_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODE_DELIVERY", "telegram_gateway")
    monkeypatch.setenv("TELEGRAM_GATEWAY_TOKEN", "token")
    monkeypatch.setenv("CODE_TTL", "3600")
    assert load_settings(_env_file=None).code_ttl == 3600


def test_defaults_and_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "1, 2")
    monkeypatch.setenv("DATABASE_URL", "postgres://user@host/db")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings(_env_file=None)
    assert settings.admin_ids == [1, 2]
    assert settings.database_url == "postgresql+asyncpg://user@host/db"
    assert settings.log_level == "DEBUG"
    assert settings.code_length == 4 and settings.code_ttl == 300
    assert settings.code_resend_cooldown == 60 and settings.code_hourly_limit == 5
    assert settings.code_delivery == "log"  # "chat" hands any phone's code to whoever asks
    assert settings.forwarded_allow_ips is None


@pytest.mark.parametrize(
    ("given", "read"),
    [("", None), (" 10.0.0.1, 10.1.0.0/16 ,::1", "10.0.0.1,10.1.0.0/16,::1"), ("*", "*")],
)
def test_trusted_proxies(monkeypatch: pytest.MonkeyPatch, given: str, read: str | None) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", given)
    assert load_settings(_env_file=None).forwarded_allow_ips == read


@pytest.mark.parametrize(("given", "read"), [("", None), ("3", 3)])
def test_web_workers(monkeypatch: pytest.MonkeyPatch, given: str, read: int | None) -> None:
    monkeypatch.setenv("WEB_WORKERS", given)
    assert load_settings(_env_file=None).web_workers == read


def test_generated_secret_key_is_kept(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    first = load_settings(_env_file=None).signing_key()
    assert len(first) >= 32
    assert load_settings(_env_file=None).signing_key() == first


def test_milestones_are_read_in_order_without_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).milestones == (5, 10, 25, 50, 100)
    monkeypatch.setenv("MILESTONES", " 50, 3,50 ,10")
    assert load_settings(_env_file=None).milestones == (3, 10, 50)
    monkeypatch.setenv("MILESTONES", "")
    assert load_settings(_env_file=None).milestones == ()


def test_events_and_metrics_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).events_url == []
    monkeypatch.setenv("EVENTS_URL", " https://crm.example/hook ,http://127.0.0.1:9000/e")
    monkeypatch.setenv("EVENTS_SECRET", "shared secret")
    monkeypatch.setenv("EVENTS_INCLUDE_PHONES", "true")
    monkeypatch.setenv("METRICS_TOKEN", "scrape")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    settings = load_settings(_env_file=None)
    assert settings.events_url == ["https://crm.example/hook", "http://127.0.0.1:9000/e"]
    assert settings.events_include_phones and settings.log_format == "json"
    assert settings.metrics_token is not None
