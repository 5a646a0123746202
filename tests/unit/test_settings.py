"""Typed settings per function: read once from the environment, fail the cold start loudly."""

from __future__ import annotations

from typing import Any

import pytest
from cdp import settings as s
from cdp.settings import (
    AdminApiSettings,
    LineWebhookSettings,
    PartnerIngestSettings,
    ProcessorSettings,
    RawIngestSettings,
    SettingsError,
)

RAW = {s.ENV_RAW_EVENTS_TABLE: "cdp-raw-events"}
LINE = {**RAW, s.ENV_LINE_CHANNELS_SECRET: "cdp/line-channels"}
PARTNER = {**RAW, s.ENV_WRITE_KEYS_SECRET: "cdp/write-keys"}
PROCESSOR = {s.ENV_CORE_TABLE: "cdp-core", s.ENV_EVENT_BUS: "cdp-bus"}
ADMIN = {s.ENV_CORE_TABLE: "cdp-core", s.ENV_ADMIN_TOKEN_SECRET: "cdp/admin-token"}

ALL = [
    pytest.param(RawIngestSettings, RAW, id="raw-ingest"),
    pytest.param(LineWebhookSettings, LINE, id="line-webhook"),
    pytest.param(PartnerIngestSettings, PARTNER, id="partner-ingest"),
    pytest.param(ProcessorSettings, PROCESSOR, id="processor"),
    pytest.param(AdminApiSettings, ADMIN, id="admin-api"),
]


def test_line_webhook_settings_with_defaults() -> None:
    # Given only the required variables
    # When the settings are read
    settings = LineWebhookSettings.from_env(LINE)

    # Then the required values are taken and the rest defaulted
    assert settings.raw_events_table == "cdp-raw-events"
    assert settings.line_channels_secret_id == "cdp/line-channels"
    assert (settings.raw_event_ttl_days, settings.secrets_cache_seconds) == (30, 300)


def test_partner_settings_with_overrides() -> None:
    # Given every variable, padded as templates sometimes leave them
    env = {**PARTNER, s.ENV_RAW_EVENT_TTL_DAYS: " 7 ", s.ENV_SECRETS_CACHE_SECONDS: "60"}

    # When the settings are read
    settings = PartnerIngestSettings.from_env(env)

    # Then the overrides are parsed
    assert (settings.write_keys_secret_id, settings.raw_event_ttl_days, settings.secrets_cache_seconds) == (
        "cdp/write-keys",
        7,
        60,
    )


def test_processor_and_admin_settings() -> None:
    # Given processor and admin environments with a region in lower case and blank optional values
    processor = ProcessorSettings.from_env({**PROCESSOR, s.ENV_DEFAULT_PHONE_REGION: " jp "})
    admin = AdminApiSettings.from_env({**ADMIN, s.ENV_DEFAULT_LINE_PROVIDER: "  ", s.ENV_TIMELINE_LIMIT: "50"})

    # Then values are normalised and blanks fall back to defaults
    assert (processor.core_table, processor.event_bus_name, processor.default_phone_region) == (
        "cdp-core",
        "cdp-bus",
        "JP",
    )
    assert (admin.default_line_provider, admin.timeline_limit, admin.default_phone_region) == ("default", 50, "TW")
    assert admin.admin_token_secret_id == "cdp/admin-token"


@pytest.mark.parametrize(("cls", "env"), ALL)
def test_each_missing_required_variable_is_named(cls: Any, env: dict[str, str]) -> None:
    # Given a complete environment
    assert cls.from_env(env) is not None
    for name in env:
        # When one required variable is missing, or blank
        for broken in ({k: v for k, v in env.items() if k != name}, {**env, name: "   "}):
            with pytest.raises(SettingsError) as raised:
                cls.from_env(broken)

            # Then the error names exactly that variable
            assert name in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (s.ENV_RAW_EVENT_TTL_DAYS, "thirty"),
        (s.ENV_RAW_EVENT_TTL_DAYS, "1.5"),
        (s.ENV_RAW_EVENT_TTL_DAYS, "0"),
        (s.ENV_SECRETS_CACHE_SECONDS, "-5"),
        (s.ENV_SECRETS_CACHE_SECONDS, "5m"),
    ],
)
def test_bad_integers_are_refused_naming_the_variable(name: str, value: str) -> None:
    # Given an integer setting that is not a positive integer
    # When the settings are read
    with pytest.raises(SettingsError) as raised:
        LineWebhookSettings.from_env({**LINE, name: value})

    # Then the error names the variable and the bad value
    assert name in str(raised.value)
    assert value.strip() in str(raised.value)


def test_bad_timeline_limit_is_refused() -> None:
    with pytest.raises(SettingsError) as raised:
        AdminApiSettings.from_env({**ADMIN, s.ENV_TIMELINE_LIMIT: "many"})
    assert s.ENV_TIMELINE_LIMIT in str(raised.value)


def test_settings_are_read_from_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the variables in the process environment
    for name, value in PROCESSOR.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(s.ENV_DEFAULT_PHONE_REGION, raising=False)

    # When the settings are read without an explicit mapping
    settings = ProcessorSettings.from_env()

    # Then they come from os.environ
    assert (settings.core_table, settings.event_bus_name, settings.default_phone_region) == (
        "cdp-core",
        "cdp-bus",
        "TW",
    )


def test_a_missing_or_bad_setting_names_its_variable() -> None:
    with pytest.raises(s.SettingsError) as missing:
        s.AdminApiSettings.from_env({s.ENV_ADMIN_TOKEN_SECRET: "cdp/admin-token"})
    assert missing.value.setting == s.ENV_CORE_TABLE
    with pytest.raises(s.SettingsError) as bad:
        s.AdminApiSettings.from_env({**ADMIN, s.ENV_TIMELINE_LIMIT: "-3"})
    assert bad.value.setting == s.ENV_TIMELINE_LIMIT


def test_every_settings_field_names_its_variable() -> None:
    import dataclasses

    classes = [c for c in vars(s).values() if isinstance(c, type) and issubclass(c, s.Settings) and c is not s.Settings]
    assert len(classes) >= 13
    for cls in classes:
        for field in dataclasses.fields(cls):
            assert field.metadata["env"].name.startswith("CDP_"), (cls.__name__, field.name)
