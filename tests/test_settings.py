"""Settings: the environment is read once, into typed fields, and a bad value is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmgr.settings import (
    DeliverySettings,
    Settings,
    SettingsError,
    SmtpSettings,
    WebhookSettings,
)

DATA = {"GRIDMGR_DATA_DIR": "/tmp/gridmgr-settings-test"}
WEBHOOK = {
    "GRIDMGR_WEBHOOK_URL": "https://hooks.example.cn/gridmgr",
    "GRIDMGR_WEBHOOK_SECRET": "s" * 16,
}
SMTP = {
    "GRIDMGR_SMTP_HOST": "mail.example.cn",
    "GRIDMGR_SMTP_FROM": "gridmgr@example.cn",
    "GRIDMGR_SMTP_TO": "{person_id}@notify.example.cn",
}


def test_the_defaults_need_no_environment_beyond_the_data_folder() -> None:
    settings = Settings.from_env(DATA)

    assert settings.data_dir == Path(DATA["GRIDMGR_DATA_DIR"])
    assert settings.db is None
    assert settings.secret_key is None
    assert settings.due_within_hours == 2.0
    assert settings.delivery == DeliverySettings(webhook=None, smtp=None)


def test_the_database_comes_from_gridmgr_db_and_a_blank_one_is_unset() -> None:
    assert Settings.from_env({**DATA, "GRIDMGR_DB": "postgresql://u:p@h/gm"}).db == (
        "postgresql://u:p@h/gm"
    )
    assert Settings.from_env({**DATA, "GRIDMGR_DB": "  "}).db is None


def test_secrets_are_read_but_never_shown_in_repr() -> None:
    key = "k" * 40
    env = {
        **DATA,
        **WEBHOOK,
        **SMTP,
        "GRIDMGR_SECRET_KEY": f" {key} ",
        "GRIDMGR_SMTP_PASSWORD": "pw1234567",
        "GRIDMGR_DB": "postgresql://u:dbpassword@h/gm",
    }
    settings = Settings.from_env(env)

    assert settings.secret_key == key
    assert settings.delivery.smtp is not None
    assert settings.delivery.smtp.password == "pw1234567"
    shown = repr(settings)
    for secret in (key, "pw1234567", WEBHOOK["GRIDMGR_WEBHOOK_SECRET"], "dbpassword"):
        assert secret not in shown


@pytest.mark.parametrize(("value", "hours"), [("2", 2.0), ("0", 0.0), ("0.5", 0.5), ("24", 24.0)])
def test_due_within_hours_is_a_number_of_working_hours(value: str, hours: float) -> None:
    settings = Settings.from_env({**DATA, "GRIDMGR_NOTIFY_DUE_WITHIN_HOURS": value})

    assert settings.due_within_hours == hours


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_bad_due_within_hours_is_refused_by_name(value: str) -> None:
    with pytest.raises(SettingsError, match="GRIDMGR_NOTIFY_DUE_WITHIN_HOURS"):
        Settings.from_env({**DATA, "GRIDMGR_NOTIFY_DUE_WITHIN_HOURS": value})


def test_the_webhook_and_smtp_channels_are_read_with_their_defaults() -> None:
    delivery = Settings.from_env({**DATA, **WEBHOOK, **SMTP}).delivery

    assert delivery.webhook == WebhookSettings(WEBHOOK["GRIDMGR_WEBHOOK_URL"], "s" * 16)
    assert delivery.smtp == SmtpSettings(
        "mail.example.cn", "gridmgr@example.cn", "{person_id}@notify.example.cn"
    )
    assert delivery.smtp.port == 25
    assert not delivery.smtp.starttls


def test_smtp_port_credentials_and_starttls_are_read() -> None:
    env = {
        **DATA,
        **SMTP,
        "GRIDMGR_SMTP_PORT": "587",
        "GRIDMGR_SMTP_USER": "gm",
        "GRIDMGR_SMTP_PASSWORD": "pw",
        "GRIDMGR_SMTP_STARTTLS": "yes",
    }
    smtp = Settings.from_env(env).delivery.smtp

    assert smtp is not None
    assert (smtp.port, smtp.username, smtp.password, smtp.starttls) == (587, "gm", "pw", True)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GRIDMGR_WEBHOOK_URL": "https://h.example.cn/x"}, "GRIDMGR_WEBHOOK_SECRET"),
        ({**WEBHOOK, "GRIDMGR_WEBHOOK_SECRET": "short"}, "at least 16 characters"),
        ({**WEBHOOK, "GRIDMGR_WEBHOOK_URL": "ftp://h.example.cn/x"}, "GRIDMGR_WEBHOOK_URL"),
        ({**SMTP, "GRIDMGR_SMTP_FROM": ""}, "GRIDMGR_SMTP_FROM"),
        ({**SMTP, "GRIDMGR_SMTP_TO": "ops@example.cn"}, "{person_id}"),
        ({**SMTP, "GRIDMGR_SMTP_PORT": "smtp"}, "GRIDMGR_SMTP_PORT must be a number"),
        ({**SMTP, "GRIDMGR_SMTP_PORT": "70000"}, "GRIDMGR_SMTP_PORT must be 1..65535"),
        ({"GRIDMGR_DELIVERY_LEASE_S": "soon"}, "GRIDMGR_DELIVERY_LEASE_S must be a number"),
        ({"GRIDMGR_DELIVERY_LEASE_S": "2"}, "GRIDMGR_DELIVERY_LEASE_S must be 10..3600"),
        ({**SMTP, "GRIDMGR_SMTP_STARTTLS": "maybe"}, "GRIDMGR_SMTP_STARTTLS"),
    ],
)
def test_a_bad_notification_channel_is_refused_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named.replace("{", r"\{").replace("}", r"\}")):
        Settings.from_env({**DATA, **env})


def test_the_delivery_lease_is_two_minutes_unless_set() -> None:
    assert Settings.from_env(DATA).delivery.lease_s == 120.0
    assert Settings.from_env({**DATA, "GRIDMGR_DELIVERY_LEASE_S": "15"}).delivery.lease_s == 15.0


def test_channels_set_only_without_a_host_or_url_configure_nothing() -> None:
    env = {**DATA, "GRIDMGR_WEBHOOK_SECRET": "short", "GRIDMGR_SMTP_PORT": "smtp"}

    assert Settings.from_env(env).delivery == DeliverySettings()


def test_overrides_are_checked_as_the_environment_is_and_none_keeps_the_value() -> None:
    settings = Settings.from_env({**DATA, "GRIDMGR_PORT": "9000", "GRIDMGR_DB": "/srv/x.sqlite"})

    same = settings.with_overrides(port=None, demo=None)
    changed = settings.with_overrides(port=8080, demo=False, simulate_speed=5.0)

    assert same == settings
    assert (changed.port, changed.demo, changed.simulate_speed) == (8080, False, 5.0)
    assert changed.db == "/srv/x.sqlite"
    with pytest.raises(SettingsError, match=r"port must be 1\.\.65535"):
        settings.with_overrides(port=0)
    with pytest.raises(SettingsError, match="GRIDMGR_SIMULATE_SPEED"):
        settings.with_overrides(simulate_speed=-1.0)
