"""The adapters admin routes use, wired in one place; each admin function builds it once per
warm container in its handler (the composition root) and hands it to the routes per request."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.secrets import CachedSecrets
from cdp.clock import SystemClock
from cdp.errors import CdpError
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.ingestion.channels import LineChannels
from cdp.settings import AdminApiSettings, SegmentAnalyticsSettings

if TYPE_CHECKING:
    from cdp.adapters.campaigns import LambdaCampaignInvoker, SchedulerCampaignSchedules
    from cdp.adapters.dynamodb.audit_log import DynamoAuditLog
    from cdp.adapters.dynamodb.auto_replies import DynamoAutoReplies
    from cdp.adapters.dynamodb.campaign_store import DynamoCampaignStore, DynamoPricing
    from cdp.adapters.dynamodb.identity_rules import DynamoIdentityRules
    from cdp.adapters.dynamodb.link_store import DynamoLinkStore
    from cdp.adapters.dynamodb.query_jobs import DynamoQueryJobs
    from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
    from cdp.adapters.dynamodb.segment_rich_menus import DynamoSegmentRichMenus
    from cdp.adapters.dynamodb.send_ledger import DynamoMessagingPolicy
    from cdp.adapters.dynamodb.tag_rules import DynamoTagRules
    from cdp.adapters.dynamodb.templates import DynamoTemplateStore
    from cdp.adapters.erase_workflow import StepFunctionsEraseWorkflow
    from cdp.adapters.line_api import LineApiClient
    from cdp.adapters.s3 import S3ImportFiles
    from cdp.adapters.s3_archive import S3Archive
    from cdp.adapters.segment_schedules import SchedulerSegmentSchedules
    from cdp.adapters.stepfunctions import StepFunctionsIdentityWorkflows
    from cdp.campaigns.model import Campaign
    from cdp.campaigns.preflight import Preflight, PreflightInputs
    from cdp.campaigns.preflight_jobs import PreflightJobs
    from cdp.identity.line_binding import LineBinding
    from cdp.imports.uploads import ImportUploads
    from cdp.journeys.ports import EntrySchedules, JourneyMachines, RunEnder
    from cdp.journeys.service import JourneyService
    from cdp.privacy.erase import EraseWorkflow
    from cdp.privacy.export_jobs import PersonExports
    from cdp.segments.rich_menus import RichMenuSync


class ConfigurationMissing(CdpError):
    """A route needs a setting this deployment lacks: an operator problem, not "retry later".

    500 (never 503, which clients retry) with the setting named in `details.setting`.
    """

    status = 500
    code = "configuration_missing"

    def __init__(self, message: str, *, setting: str, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"setting": setting})


@dataclass(frozen=True, slots=True)
class AdminContext:
    """Settings, cached clients and the stores; the other adapters are thin wrappers over them,
    cheap to build per request (and imported when first built: the cold start pays only for
    what a request uses)."""

    settings: AdminApiSettings
    analytics: SegmentAnalyticsSettings
    secrets: CachedSecrets
    store: DynamoProfileStore
    normalizer: IdentifierNormalizer

    @classmethod
    def from_env(cls) -> AdminContext:
        settings = AdminApiSettings.from_env()
        return cls(
            settings=settings,
            analytics=SegmentAnalyticsSettings.from_env(),
            secrets=CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds),
            store=DynamoProfileStore(client("dynamodb"), settings.core_table),
            normalizer=IdentifierNormalizer(settings.default_phone_region),
        )

    # --- the core table -------------------------------------------------------------------
    def segments(self) -> DynamoSegmentStore:
        return DynamoSegmentStore(client("dynamodb"), self.settings.core_table)

    def identity_rules(self) -> DynamoIdentityRules:
        from cdp.adapters.dynamodb.identity_rules import DynamoIdentityRules

        return DynamoIdentityRules(client("dynamodb"), self.settings.core_table)

    def tag_rules(self) -> DynamoTagRules:
        from cdp.adapters.dynamodb.tag_rules import DynamoTagRules

        return DynamoTagRules(client("dynamodb"), self.settings.core_table)

    def segment_rich_menus(self) -> DynamoSegmentRichMenus:
        from cdp.adapters.dynamodb.segment_rich_menus import DynamoSegmentRichMenus

        return DynamoSegmentRichMenus(client("dynamodb"), self.settings.core_table)

    def rich_menu_sync(self) -> RichMenuSync:
        from cdp.adapters.line_api import LineRichMenuApi
        from cdp.segments.rich_menus import RichMenuSync

        return RichMenuSync(
            store=self.segment_rich_menus(),
            memberships=self.segments(),
            profiles=self.store,
            links=LineRichMenuApi(self.line_api(), attempts=2),
            channels=self.line_channels(),
        )

    def audit_log(self) -> DynamoAuditLog:
        from cdp.adapters.dynamodb.audit_log import DynamoAuditLog

        return DynamoAuditLog(
            client("dynamodb"), self.settings.core_table, retention_days=self.settings.audit_retention_days
        )

    def auto_replies(self) -> DynamoAutoReplies:
        from cdp.adapters.dynamodb.auto_replies import DynamoAutoReplies

        return DynamoAutoReplies(client("dynamodb"), self.settings.core_table)

    def templates(self) -> DynamoTemplateStore:
        from cdp.adapters.dynamodb.templates import DynamoTemplateStore

        return DynamoTemplateStore(client("dynamodb"), self.settings.core_table)

    def messaging_policy(self) -> DynamoMessagingPolicy:
        from cdp.adapters.dynamodb.send_ledger import DynamoMessagingPolicy

        return DynamoMessagingPolicy(client("dynamodb"), self.settings.core_table)

    def links(self) -> DynamoLinkStore:
        from cdp.adapters.dynamodb.link_store import DynamoLinkStore

        return DynamoLinkStore(client("dynamodb"), self.settings.core_table)

    def query_jobs(self) -> DynamoQueryJobs:
        from cdp.adapters.dynamodb.query_jobs import DynamoQueryJobs

        return DynamoQueryJobs(client("dynamodb"), self.settings.core_table)

    def raw_events(self) -> DynamoRawEventStore:
        from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore

        if not self.settings.raw_events_table:
            raise ConfigurationMissing("no raw events table is configured", setting="CDP_RAW_EVENTS_TABLE")
        return DynamoRawEventStore(
            client("dynamodb"), self.settings.raw_events_table, self.settings.raw_event_ttl_days * 86400
        )

    # --- other services ---------------------------------------------------------------------
    def line_channels(self) -> LineChannels:
        if not self.settings.line_channels_secret_id:
            raise ConfigurationMissing(
                "no LINE channels are configured", setting="CDP_LINE_CHANNELS_SECRET_ID", code="line_not_configured"
            )
        return LineChannels(self.secrets, self.settings.line_channels_secret_id)

    def line_api(self) -> LineApiClient:
        from cdp.adapters.line_api import LineApiClient

        return LineApiClient(self.settings.line_api_base_url)

    def identity_workflows(self) -> StepFunctionsIdentityWorkflows:
        from cdp.adapters.stepfunctions import StepFunctionsIdentityWorkflows

        return StepFunctionsIdentityWorkflows(
            client("stepfunctions"), unmerge_arn=self.settings.unmerge_state_machine_arn
        )

    def erase_workflow(self) -> EraseWorkflow:
        """The erase's request side: resolve the person, suppress, record (no store is erased here)."""
        from cdp.adapters.dynamodb.erasure import DynamoEraseLedger, DynamoSuppressions
        from cdp.privacy.erase import EraseWorkflow

        dynamodb = client("dynamodb")
        return EraseWorkflow(
            people=self.store,
            ledger=DynamoEraseLedger(dynamodb, self.settings.core_table),
            suppressions=DynamoSuppressions(dynamodb, self.settings.core_table),
            stores=(),
            clock=SystemClock(),
        )

    def erase_runs(self) -> StepFunctionsEraseWorkflow:
        from cdp.adapters.erase_workflow import StepFunctionsEraseWorkflow

        if not self.settings.erase_state_machine_arn:
            raise ConfigurationMissing(
                "erase is not configured on this deployment", setting="CDP_ERASE_STATE_MACHINE_ARN"
            )
        return StepFunctionsEraseWorkflow(client("stepfunctions"), self.settings.erase_state_machine_arn)

    def import_files(self) -> S3ImportFiles:
        from cdp.adapters.s3 import S3ImportFiles

        if not self.settings.imports_bucket:
            raise ConfigurationMissing(
                "imports are not configured on this deployment",
                setting="CDP_IMPORTS_BUCKET",
                code="imports_not_configured",
            )
        return S3ImportFiles(client("s3"), self.settings.imports_bucket)

    def uploads(self) -> ImportUploads:
        from cdp.adapters.dynamodb.imports import DynamoImportStore
        from cdp.adapters.lambda_invoke import LambdaImportStarter
        from cdp.imports.uploads import ImportUploads

        files = self.import_files()
        starter = None
        if self.settings.member_import_function:
            starter = LambdaImportStarter(client("lambda"), self.settings.member_import_function)
        return ImportUploads(
            store=DynamoImportStore(client("dynamodb"), self.settings.core_table),
            files=files,
            starter=starter,
            clock=SystemClock(),
        )

    def line_binding(self) -> LineBinding:
        from cdp.adapters.dynamodb.link_nonces import DynamoLinkNonceStore
        from cdp.identity.account_link import AccountLinks
        from cdp.identity.line_binding import LineBinding

        clock = SystemClock()
        return LineBinding(
            channels=self.line_channels(),
            line_api=self.line_api(),
            links=AccountLinks(
                DynamoLinkNonceStore(client("dynamodb"), self.settings.core_table),
                clock,
                self.settings.link_nonce_ttl_seconds,
            ),
            raw_events=self.raw_events(),
            normalizer=self.normalizer,
            clock=clock,
        )

    def schedules(self) -> SchedulerSegmentSchedules | None:
        """The per-segment recompute schedules, when this deployment has the scheduler wired."""
        from cdp.adapters.segment_schedules import SchedulerSegmentSchedules

        analytics = self.analytics
        if not (analytics.schedule_group and analytics.recompute_function_arn and analytics.scheduler_role_arn):
            return None
        return SchedulerSegmentSchedules(
            client("scheduler"),
            group=analytics.schedule_group,
            target_arn=analytics.recompute_function_arn,
            role_arn=analytics.scheduler_role_arn,
        )

    def archive(self) -> S3Archive:
        from cdp.adapters.s3_archive import S3Archive

        if not self.analytics.archive_bucket:
            raise ConfigurationMissing(
                "the profile archive is not configured on this deployment",
                setting="CDP_ARCHIVE_BUCKET",
                code="archive_not_configured",
            )
        return S3Archive(client("s3"), self.analytics.archive_bucket, Path(self.analytics.archive_cache_dir))

    def lambda_client(self) -> Any:
        return client("lambda")

    def person_exports(self) -> PersonExports:
        """Exports of everything held about one person (cdp.privacy.export_jobs), run as jobs of
        the admin function serving the request."""
        from cdp.adapters.dynamodb.journey_runs import DynamoRunStore
        from cdp.adapters.dynamodb.privacy_export import DynamoExportJobs, DynamoExportReads
        from cdp.adapters.lambda_invoke import LambdaExportStarter
        from cdp.privacy.export import ExportSources
        from cdp.privacy.export_jobs import PersonExports

        if not self.settings.raw_events_table:
            raise ConfigurationMissing("no raw events table is configured", setting="CDP_RAW_EVENTS_TABLE")
        dynamodb = client("dynamodb")
        return PersonExports(
            jobs=DynamoExportJobs(dynamodb, self.settings.core_table),
            files=self.import_files(),
            starter=LambdaExportStarter(self.lambda_client(), serving_function()),
            sources=ExportSources(
                people=self.store,
                segments=self.segments(),
                reads=DynamoExportReads(dynamodb, self.settings.core_table, self.settings.raw_events_table),
                journeys=DynamoRunStore(dynamodb, self.settings.core_table),
            ),
            clock=SystemClock(),
        )

    # --- campaigns ----------------------------------------------------------------------------
    def campaigns(self) -> DynamoCampaignStore:
        from cdp.adapters.dynamodb.campaign_store import DynamoCampaignStore

        return DynamoCampaignStore(client("dynamodb"), self.settings.core_table)

    def pricing(self) -> DynamoPricing:
        from cdp.adapters.dynamodb.campaign_store import DynamoPricing

        return DynamoPricing(client("dynamodb"), self.settings.core_table)

    def campaign_runner(self) -> LambdaCampaignInvoker:
        from cdp.adapters.campaigns import LambdaCampaignInvoker

        if not self.settings.campaign_runner_function:
            raise ConfigurationMissing(
                "campaigns are not configured on this deployment",
                setting="CDP_CAMPAIGN_RUNNER_FUNCTION",
                code="campaigns_not_configured",
            )
        return LambdaCampaignInvoker(client("lambda"), self.settings.campaign_runner_function)

    def campaign_schedules(self) -> SchedulerCampaignSchedules:
        from cdp.adapters.campaigns import SchedulerCampaignSchedules

        settings = self.settings
        if not (
            settings.campaign_runner_function
            and settings.campaign_schedule_group
            and settings.campaign_scheduler_role_arn
        ):
            raise ConfigurationMissing(
                "campaign schedules are not configured on this deployment",
                setting="CDP_CAMPAIGN_SCHEDULER_ROLE_ARN",
                code="campaigns_not_configured",
            )
        return SchedulerCampaignSchedules(
            client("scheduler"),
            group=settings.campaign_schedule_group,
            target_arn=settings.campaign_runner_function,
            role_arn=settings.campaign_scheduler_role_arn,
        )

    # --- journeys -----------------------------------------------------------------------------
    def journey_service(self) -> JourneyService:
        """Drafts need only the stores; publish, pause, resume and archive also drive the runtime
        (the versions' state machines, cohort schedules, ending runs), built when first needed."""
        from cdp.adapters.dynamodb.journeys import DynamoJourneyStore
        from cdp.journeys.service import JourneyService

        store = DynamoJourneyStore(client("dynamodb"), self.settings.core_table)
        return JourneyService(store, self.templates(), SystemClock(), runtime=journey_runtime)

    def preflight(self, campaign: Campaign, *, now_ms: int) -> dict[str, Any]:
        """The send point's rules over the campaign's audience, nothing written (cdp.campaigns.preflight);
        AudienceTooLarge, with the tally so far, when it cannot finish within the request."""
        preflight, inputs = self.preflight_parts(campaign)
        return preflight.run(campaign, inputs, now_ms=now_ms)

    def preflight_jobs(self) -> PreflightJobs:
        from cdp.adapters.campaigns import LambdaPreflightSteps
        from cdp.campaigns.preflight_jobs import PreflightJobs

        return PreflightJobs(
            self.campaigns(),
            self.query_jobs(),
            LambdaPreflightSteps(self.lambda_client(), serving_function()),
            SystemClock(),
        )

    def preflight_parts(self, campaign: Campaign) -> tuple[Preflight, PreflightInputs]:
        """The preflight over the live stores and its inputs (policy, pricing, LINE, the template's SMS)."""
        from cdp.adapters.campaigns import LineQuotaSource
        from cdp.adapters.dynamodb.campaign_store import DynamoCapCounts
        from cdp.adapters.dynamodb.send_ledger import DynamoPolicySource, DynamoSuppressionList
        from cdp.campaigns.audience import Audience
        from cdp.campaigns.preflight import DEFAULT_TIME_BUDGET_S, Preflight, PreflightInputs
        from cdp.messaging.templates.sms import sms_segments

        dynamodb = client("dynamodb")
        channels = self.line_channels() if self.settings.line_channels_secret_id else None
        line = channels.find(campaign.line_channel) if channels else None
        provider = line.provider_id if line is not None and line.access_token else None
        configured = frozenset({"email", "sms"} | ({"line"} if provider else set()))
        segments_store = self.segments()
        version = (
            self.templates().version(campaign.template_id, campaign.template_version or 0)
            if campaign.template_version
            else None
        )
        if version is None:
            template = self.templates().get(campaign.template_id)
            version = self.templates().version(campaign.template_id, template.latest_version) if template else None
        sms_text = version.content.sms if version is not None else None
        inputs = PreflightInputs(
            policy=DynamoPolicySource(dynamodb, self.settings.core_table, cache_seconds=0).policy(),
            pricing=self.pricing().read()[0],
            line_provider=provider,
            suppressed=DynamoSuppressionList(dynamodb, self.settings.core_table).suppressed,
            configured=configured,
            sms_segments=sms_segments(sms_text) if sms_text else 1,
        )
        preflight = Preflight(
            Audience(segments_store, self.store),
            DynamoCapCounts(dynamodb, self.settings.core_table),
            LineQuotaSource(channels, self.line_api()),
            time_budget_s=DEFAULT_TIME_BUDGET_S,
        )
        return preflight, inputs


def journey_runtime() -> tuple[JourneyMachines, EntrySchedules, RunEnder]:
    """The journey runtime's adapters (Step Functions, EventBridge Scheduler), imported on first
    use; a deployment without them answers 500 configuration_missing."""
    try:
        from cdp.adapters.journey_flow import LambdaRunEnder, SchedulerEntrySchedules
        from cdp.adapters.journey_machines import StepFunctionsJourneyMachines
    except ImportError as exc:
        raise ConfigurationMissing(
            "the journey runtime is not part of this deployment",
            setting="CDP_JOURNEY_STEP_ARN",
            code="journeys_not_configured",
        ) from exc
    machines: JourneyMachines = StepFunctionsJourneyMachines.from_env()
    schedules: EntrySchedules = SchedulerEntrySchedules.from_env()
    runs: RunEnder = LambdaRunEnder.from_env()
    return machines, schedules, runs


_CURRENT: contextvars.ContextVar[Callable[[], AdminContext]] = contextvars.ContextVar("admin_context")
_FUNCTION: contextvars.ContextVar[str] = contextvars.ContextVar("admin_function", default="")


@contextlib.contextmanager
def serving(build: Callable[[], AdminContext], function_arn: str = "") -> Iterator[None]:
    """Routes called inside see the context `build` gives (the handler's cached one) and the
    ARN of the function serving them (a query job is run by the same function)."""
    token, function = _CURRENT.set(build), _FUNCTION.set(function_arn)
    try:
        yield
    finally:
        _CURRENT.reset(token)
        _FUNCTION.reset(function)


def serving_function() -> str:
    return _FUNCTION.get()


def admin_context() -> AdminContext:
    try:
        build = _CURRENT.get()
    except LookupError as exc:
        raise RuntimeError("admin routes run inside an admin function's handler (cdp_api.context.serving)") from exc
    return build()
