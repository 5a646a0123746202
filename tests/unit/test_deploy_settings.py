"""Deploy settings from cdk context: defaults that deploy on a new account, values from `-c` as
strings, and a refusal naming the key for anything that cannot work."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.cdp_infra import constants
from infra.cdp_infra import deploy_settings as ds
from infra.cdp_infra.deploy_settings import DeploySettings, DeploySettingsError


def _cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads(constants.CDK_JSON.read_text(encoding="utf-8"))["context"]
    return context


def _with(**overrides: Any) -> dict[str, Any]:
    return {**_cdk_json_context(), **overrides}


def test_cdk_json_defaults_deploy_on_a_new_account() -> None:
    settings = DeploySettings.from_context(_cdk_json_context())
    assert settings.region == "ap-northeast-1"
    assert settings.account is None
    assert settings.default_phone_region == "TW"
    assert settings.raw_event_ttl_days == 30
    assert settings.link_base_url is None
    assert settings.schedule_time_zone == "Asia/Taipei"
    # New accounts: 3008 MB per function at most, and a concurrency limit that leaves no room to reserve.
    assert settings.archive_job_memory_mb <= ds.NEW_ACCOUNT_MAX_MEMORY_MB
    assert settings.segment_recompute_concurrency is None
    assert settings.rfm_scoring_concurrency is None
    assert settings.archive_compactor_concurrency is None
    assert settings.ingest_allowed_origins == ("*",)  # browser SDKs may send, like Segment's API
    assert settings.journey_starts_per_second == 100  # under Tokyo's 150/s StartExecution quota


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        (None, ("*",)),
        ("", ()),
        ("https://shop.example.com, https://www.example.com", ("https://shop.example.com", "https://www.example.com")),
        (["https://shop.example.com"], ("https://shop.example.com",)),
    ],
)
def test_ingest_allowed_origins(value: Any, origins: tuple[str, ...]) -> None:
    context = {k: v for k, v in _cdk_json_context().items() if k != ds.INGEST_ALLOWED_ORIGINS}
    if value is not None:
        context[ds.INGEST_ALLOWED_ORIGINS] = value
    assert DeploySettings.from_context(context).ingest_allowed_origins == origins


def test_a_bad_origin_refuses_synth_naming_the_key() -> None:
    with pytest.raises(DeploySettingsError, match=ds.INGEST_ALLOWED_ORIGINS):
        DeploySettings.from_context(_with(ingestAllowedOrigins="shop.example.com/path"))


def test_every_key_has_a_default_in_cdk_json() -> None:
    assert set(ds.KEYS) - {ds.ACCOUNT} <= set(_cdk_json_context())


def test_command_line_strings_are_read_like_json_values() -> None:
    settings = DeploySettings.from_context(
        _with(
            region="ap-southeast-1",
            defaultPhoneRegion=" th ",
            rawEventTtlDays="14",
            linkBaseUrl="https://go.example.com/",
            scheduleTimeZone="Asia/Bangkok",
            archiveJobMemoryMb="8192",
            segmentRecomputeReservedConcurrency="5",
            rfmScoringReservedConcurrency=1,
            archiveCompactorReservedConcurrency="none",
        )
    )
    assert settings.region == "ap-southeast-1"
    assert settings.default_phone_region == "TH"
    assert settings.raw_event_ttl_days == 14
    assert settings.link_base_url == "https://go.example.com"
    assert settings.schedule_time_zone == "Asia/Bangkok"
    assert settings.archive_job_memory_mb == 8192
    assert settings.segment_recompute_concurrency == 5
    assert settings.rfm_scoring_concurrency == 1
    assert settings.archive_compactor_concurrency is None


def test_the_account_comes_from_the_cli_unless_the_context_pins_one() -> None:
    assert DeploySettings.from_context(_cdk_json_context(), account="111122223333").account == "111122223333"
    pinned = DeploySettings.from_context(_with(account="444455556666"), account="111122223333")
    assert pinned.account == "444455556666"
    with pytest.raises(DeploySettingsError, match=r"account \(CDK_DEFAULT_ACCOUNT\): 'abc'"):
        DeploySettings.from_context(_cdk_json_context(), account="abc")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("region", "", "region: missing"),
        ("region", "tokyo", "not an AWS region"),
        ("account", "12345", "not a 12-digit AWS account id"),
        ("defaultPhoneRegion", "XX", "'XX' is not a region phonenumbers knows"),
        ("defaultPhoneRegion", "Taiwan", "is not a region phonenumbers knows"),
        ("rawEventTtlDays", "0", "outside 1..3650"),
        ("rawEventTtlDays", "thirty", "expected a whole number"),
        ("rawEventTtlDays", True, "expected a whole number"),
        ("rawEventTtlDays", None, "rawEventTtlDays: missing"),
        ("linkBaseUrl", "http://go.example.com", "must be an https URL"),
        ("linkBaseUrl", "https://go.example.com/?utm=1", "must be an https URL"),
        ("scheduleTimeZone", "Asia/Taipie", "'Asia/Taipie' is not an IANA time zone"),
        ("scheduleTimeZone", "../etc/passwd", "is not an IANA time zone"),
        ("archiveJobMemoryMb", "64", "outside Lambda's 128..10240 MB"),
        ("archiveJobMemoryMb", 20000, "outside Lambda's 128..10240 MB"),
        ("segmentRecomputeReservedConcurrency", "0", "would stop the function"),
        ("rfmScoringReservedConcurrency", "-1", "would stop the function"),
        ("archiveCompactorReservedConcurrency", "1.5", "expected a whole number"),
        ("journeyStartsPerSecond", "0", "outside 1..1000"),
        ("journeyStartsPerSecond", "fast", "expected a whole number"),
    ],
)
def test_a_setting_that_cannot_work_refuses_synth_naming_its_key(key: str, value: Any, message: str) -> None:
    with pytest.raises(DeploySettingsError, match="override with -c key=value") as refused:
        DeploySettings.from_context(_with(**{key: value}))
    assert f"{key}" in str(refused.value)
    assert message in str(refused.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(DeploySettingsError) as refused:
        DeploySettings.from_context(_with(defaultPhoneRegion="ZZ", scheduleTimeZone="Mars/Olympus"))
    assert "defaultPhoneRegion" in str(refused.value)
    assert "scheduleTimeZone" in str(refused.value)


@pytest.mark.parametrize(
    ("value", "selection"),
    [
        (None, "all"),
        ("none", "none"),
        ("", "none"),
        ("Order Completed, Product Added", "Order Completed,Product Added"),
        (["Order Completed"], "Order Completed"),
    ],
)
def test_publish_event_received(value: Any, selection: str) -> None:
    context = {k: v for k, v in _cdk_json_context().items() if k != ds.PUBLISH_EVENT_RECEIVED}
    if value is not None:
        context[ds.PUBLISH_EVENT_RECEIVED] = value
    assert DeploySettings.from_context(context).publish_event_received == selection


def test_cdk_json_publishes_no_event_received_and_a_bad_selection_refuses_synth() -> None:
    # Nothing in the stack consumes event.received; each is a paid EventBridge entry (docs/costs.md).
    assert DeploySettings.from_context(_cdk_json_context()).publish_event_received == "none"
    with pytest.raises(DeploySettingsError, match=ds.PUBLISH_EVENT_RECEIVED):
        DeploySettings.from_context(_with(publishEventReceived="Order Completed,,"))
    with pytest.raises(DeploySettingsError, match=ds.PUBLISH_EVENT_RECEIVED):
        DeploySettings.from_context(_with(publishEventReceived=3))
