"""GET /r/{code}: the public tracked-link redirect (no auth). 302 to the destination with the
visitor's anonymous id, one "Link Clicked" raw event per click (cdp.links.redirect; HTTP in
cdp_api.redirect).

GET/POST /u/{token}: one-click unsubscribe from marketing email, signed with the same key, recorded
as a consent raw event (cdp.messaging.unsubscribe; HTTP in cdp_api.unsubscribe)."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.link_store import DynamoLinkStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.secrets import CachedSecrets
from cdp.clock import SystemClock
from cdp.links.redirect import CachedLinks, LinkRedirector
from cdp.messaging.unsubscribe import Unsubscriber
from cdp.observability import logger
from cdp.settings import LinkRedirectSettings
from cdp_api.redirect import answer_click
from cdp_api.unsubscribe import answer_unsubscribe

UNSUBSCRIBE_RESOURCE = "/u/{token}"


@functools.cache
def build() -> LinkRedirector:
    settings = LinkRedirectSettings.from_env()
    dynamodb = client("dynamodb")
    secrets = CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds)
    links = DynamoLinkStore(dynamodb, settings.core_table)
    return LinkRedirector(
        links=CachedLinks(links, settings.link_cache_seconds),
        events=DynamoRawEventStore(dynamodb, settings.raw_events_table, settings.raw_event_ttl_days * 86400),
        counter=links,
        signing_key=lambda: secrets.get_text(settings.link_signing_secret_id).strip().encode("utf-8"),
        clock=SystemClock(),
    )


@functools.cache
def build_unsubscriber() -> Unsubscriber:
    settings = LinkRedirectSettings.from_env()
    secrets = CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds)
    return Unsubscriber(
        events=DynamoRawEventStore(client("dynamodb"), settings.raw_events_table, settings.raw_event_ttl_days * 86400),
        signing_key=lambda: secrets.get_text(settings.link_signing_secret_id).strip().encode("utf-8"),
        clock=SystemClock(),
    )


# The request id is every log line's correlation_id: API Gateway answers it in x-amzn-RequestId.
@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("resource") == UNSUBSCRIBE_RESOURCE:
        return answer_unsubscribe(event, build_unsubscriber)
    return answer_click(event, build)
