"""How the send point (cdp.messaging.send_point) is built over the deployed adapters: shared by the
message sender and the journey step function, which both send through it."""

from __future__ import annotations

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.dynamodb.send_ledger import (
    DynamoFrequencyCaps,
    DynamoPolicySource,
    DynamoSendLedger,
    DynamoSuppressionList,
)
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.adapters.line_api import LineApiClient, LineMessagingApi, per_sender_buckets
from cdp.adapters.secrets import CachedSecrets
from cdp.adapters.send_schedules import SchedulerReleases
from cdp.adapters.ses_email import SesEmailSender
from cdp.adapters.sns_sms import SnsSmsSender
from cdp.clock import SystemClock
from cdp.ingestion.channels import LineChannels
from cdp.messaging.content import Renderer
from cdp.messaging.send_point import SendPoint
from cdp.messaging.unsubscribe import unsubscribe_url
from cdp.settings import MessageSenderSettings


def production_renderer(settings: MessageSenderSettings) -> Renderer:
    """The template library's renderer over the core table (cdp.messaging.templates), minting each
    recipient's tracked links under the public link base URL (none set: links are left as written)."""
    from cdp.adapters.dynamodb.link_store import DynamoLinkStore
    from cdp.adapters.dynamodb.templates import DynamoTemplateStore  # type: ignore[import-not-found]
    from cdp.messaging.templates.links import (  # type: ignore[import-not-found]
        TrackedLinkMinter,
        people_from_profiles,
    )
    from cdp.messaging.templates.renderer import TemplateRenderer  # type: ignore[import-not-found]

    dynamodb = client("dynamodb")
    minter = None
    if settings.link_base_url:
        secrets = CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds)
        secret_id = settings.link_signing_secret_id
        minter = TrackedLinkMinter(
            DynamoLinkStore(dynamodb, settings.core_table),
            base_url=settings.link_base_url,
            clock=SystemClock(),
            signing_key=(lambda: secrets.get_text(secret_id).strip().encode()) if secret_id else None,
            person_of=people_from_profiles(DynamoProfileStore(dynamodb, settings.core_table)),
        )
    renderer: Renderer = TemplateRenderer(DynamoTemplateStore(dynamodb, settings.core_table), minter)
    return renderer


def build_send_point(settings: MessageSenderSettings, renderer: Renderer, target_arn: str) -> SendPoint:
    """`target_arn`: the message sender, where held sends come back when their hold ends."""
    dynamodb = client("dynamodb")
    secrets = CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds)
    line_channels = (
        LineChannels(secrets, settings.line_channels_secret_id) if settings.line_channels_secret_id else None
    )
    unsubscribe = None
    if settings.link_signing_secret_id and settings.link_base_url:

        def unsubscribe(profile_id: str, channel: str, address: str) -> str:
            key = secrets.get_text(settings.link_signing_secret_id).strip().encode()
            return unsubscribe_url(settings.link_base_url, key, channel, address)

    return SendPoint(
        profiles=DynamoProfileStore(dynamodb, settings.core_table),
        renderer=renderer,
        ledger=DynamoSendLedger(dynamodb, settings.core_table),
        caps=DynamoFrequencyCaps(dynamodb, settings.core_table),
        suppressions=DynamoSuppressionList(dynamodb, settings.core_table),
        policies=DynamoPolicySource(dynamodb, settings.core_table, cache_seconds=settings.policy_cache_seconds),
        releases=SchedulerReleases(
            client("scheduler"),
            group=settings.schedule_group,
            target_arn=target_arn,
            role_arn=settings.scheduler_role_arn,
        ),
        events=DynamoRawEventStore(dynamodb, settings.raw_events_table, settings.raw_event_ttl_days * 86400),
        clock=SystemClock(),
        line_channels=line_channels,
        line=LineMessagingApi(
            LineApiClient(settings.line_api_base_url), buckets=per_sender_buckets(settings.sender_concurrency)
        )
        if line_channels
        else None,
        email=SesEmailSender(
            client("sesv2"), from_address=settings.email_from_address, configuration_set=settings.ses_configuration_set
        )
        if settings.email_from_address
        else None,
        sms=SnsSmsSender(client("sns"), sender_id=settings.sms_sender_id),
        unsubscribe_url=unsubscribe,
        parallelism=settings.sender_parallelism,
        publisher=EventBridgePublisher(client("events"), settings.event_bus_name) if settings.event_bus_name else None,
    )
