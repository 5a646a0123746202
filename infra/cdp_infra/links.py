"""Tracked links: the public redirect function behind `GET /r/{code}` and what it may touch.

The redirect reads link items (`LINK#<code>`) and adds to their click counters, puts each click
as a raw event (so the event processor applies it like any other event) and reads the key that
verifies personal-link tokens. The admin API creates links and signs personal links.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from cdp import settings
from cdp.adapters.dynamodb.link_store import PK_PREFIX as LINK_PK_PREFIX
from constructs import Construct

from infra.cdp_infra import constants
from infra.cdp_infra.deploy_settings import DeploySettings
from infra.cdp_infra.function_factory import FunctionFactory
from infra.cdp_infra.routes import LINK_REDIRECT
from infra.cdp_infra.tables import CdpTables, grant_core_writes

TRACKED_LINKS_ID = "TrackedLinks"
LINK_CACHE_SECONDS = 30
# Item-level access, held to LINK# keys: read a link, ADD to its counters; nothing else in the table.
_REDIRECT_CORE_ACTIONS = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
_ADMIN_CORE_ACTIONS = ["dynamodb:PutItem"]  # reads come with the admin API's core-table reads


class TrackedLinks(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: FunctionFactory,
        tables: CdpTables,
        signing_key: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self._tables = tables
        self._signing_key = signing_key
        self.function: lambda_.Function = factory.create(
            self,
            LINK_REDIRECT,
            description="Public tracked-link redirect: 302 to the destination, each click recorded as a raw event",
            memory_size=256,
            timeout=Duration.seconds(5),  # a visitor is waiting; the SDK retries inside this budget
            environment={
                settings.ENV_CORE_TABLE: tables.core.table_name,
                settings.ENV_RAW_EVENTS_TABLE: tables.raw_events.table_name,
                settings.ENV_RAW_EVENT_TTL_DAYS: str(DeploySettings.of(self).raw_event_ttl_days),
                settings.ENV_LINK_SIGNING_SECRET: signing_key.secret_arn,
                settings.ENV_SECRETS_CACHE_SECONDS: str(constants.SECRETS_CACHE_SECONDS),
                settings.ENV_LINK_CACHE_SECONDS: str(LINK_CACHE_SECONDS),
            },
        )
        grant_core_writes(self.function, tables.core, list(_REDIRECT_CORE_ACTIONS), [LINK_PK_PREFIX])
        tables.raw_events.grant(self.function, "dynamodb:PutItem")
        signing_key.grant_read(self.function)

    def wire_admin_api(self, admin_api: lambda_.Function, *, base_url: str | None = None) -> None:
        """The admin API creates links (LINK# items only) and signs personal links."""
        grant_core_writes(admin_api, self._tables.core, list(_ADMIN_CORE_ACTIONS), [LINK_PK_PREFIX])
        admin_api.add_environment(settings.ENV_LINK_SIGNING_SECRET, self._signing_key.secret_arn)
        self._signing_key.grant_read(admin_api)
        if base_url:
            admin_api.add_environment(settings.ENV_LINK_BASE_URL, base_url)
