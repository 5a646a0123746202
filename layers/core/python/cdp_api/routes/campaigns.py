"""Campaigns: create, list, read, edit and delete (drafts; cancelled ones too), preflight, send,
pause, resume, cancel; the workspace's pricing.

`send` runs the preflight first and refuses (409 over_budget, with the figures) when the estimate
exceeds the campaign's budget; then it pins the template version and either starts the run at
once (`now`: the campaign runner, invoked asynchronously) or puts the campaign's EventBridge
Scheduler schedule (`at`, `recurring`). The fan-out and the report are cdp.campaigns'; the
report is served by the query function (cdp_api.routes.campaign_reports).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from cdp.campaigns.model import (
    CANCELLED,
    DRAFT,
    LIVE,
    PAUSED,
    RUN_CANCELLED,
    RUN_PAUSED,
    RUN_SENDING,
    SCHEDULED,
    SENDING,
    SENT,
    Campaign,
    Schedule,
    new_campaign_id,
    valid_campaign_id,
)
from cdp.campaigns.preflight import AudienceTooLarge, Tally, refuse_over_budget
from cdp.campaigns.preflight_jobs import fresh_figures, running_conflict
from cdp.campaigns.pricing import Pricing
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, Conflict, NotFound
from cdp.segments.rules import parse_rule

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.models import CampaignCreate, CampaignFields, CampaignUpdate, PricingUpdate

router = Router()  # type: ignore[no-untyped-call]


def _now_ms() -> int:
    return SystemClock().now_ms()


def campaign_or_404(campaign_id: str) -> Campaign:
    campaign = admin_context().campaigns().get(campaign_id) if valid_campaign_id(campaign_id) else None
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}", code="campaign_not_found")
    return campaign


def _check_template(template_id: str, version: int | None) -> int:
    """The template's version a send pins (the newest active one unless given); 404 otherwise."""
    store = admin_context().templates()
    template = store.get(template_id)
    if template is None:
        raise NotFound(f"no template {template_id}", code="template_not_found", details={"field": "template_id"})
    if version is None:
        if template.status != "active":
            raise Conflict(f"template {template_id} is archived", code="template_archived")
        return template.latest_version
    if store.version(template_id, version) is None:
        raise NotFound(
            f"template {template_id} has no version {version}",
            code="template_version_not_found",
            details={"field": "template_version"},
        )
    return version


def _check_segment(segment_id: str) -> None:
    segment = admin_context().segments().get(segment_id)
    if segment is None or segment.status != "active":
        raise NotFound(f"no active segment {segment_id}", code="segment_not_found", details={"field": "segment_id"})


def _save(campaign: Campaign, expected_version: int) -> Campaign:
    if not admin_context().campaigns().replace(campaign, expected_version=expected_version):
        raise Conflict(f"campaign {campaign.campaign_id} changed meanwhile; read it again", code="campaign_changed")
    return campaign


@router.post(
    "/admin/v1/campaigns",
    status_code=201,
    responses={**ok(201, "The draft", "Campaign"), **errors(404, 409)},
)
def create_campaign(request: Annotated[CampaignCreate, Body()]) -> dict[str, Any]:
    """A draft: `name`, `segment_id` (+ `rule` to narrow it), `template_id` (+ `template_version`),
    `channels` (the chain), `purpose`, `schedule`, `budget`, `max_recipients`, `in_quiet_hours`,
    `quiet_hours`, `frequency_cap`. 404 segment_not_found / template_not_found; 400
    invalid_time_zone, schedule_in_past, invalid_schedule, invalid_rule...; 409 campaign_exists."""
    campaign_id = request.fields().get("id")
    if campaign_id is not None and not valid_campaign_id(campaign_id):
        raise BadRequest(
            "`id` is 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter or digit",
            code="invalid_campaign_id",
            details={"field": "id"},
        )
    now = iso_from_ms(_now_ms())
    campaign = _draft(request, campaign_id or new_campaign_id(), created_at=now, updated_at=now)
    if not admin_context().campaigns().create(campaign):
        raise Conflict(f"campaign {campaign.campaign_id} exists", code="campaign_exists", details={"field": "id"})
    return campaign.as_dict()


def _draft(request: CampaignFields, campaign_id: str, *, created_at: str, updated_at: str) -> Campaign:
    """A draft from the request's fields, checked as `create` checks them."""
    if len(set(request.channels)) != len(request.channels):
        raise BadRequest("a channel appears twice in the chain", code="invalid_channels", details={"field": "channels"})
    schedule = Schedule.parse(request.fields().get("schedule"), now_ms=_now_ms())
    if request.rule is not None:
        parse_rule(request.rule)
    _check_segment(request.segment_id)
    _check_template(request.template_id, request.template_version)
    return Campaign(
        campaign_id=campaign_id,
        name=request.name,
        segment_id=request.segment_id,
        template_id=request.template_id,
        template_version=request.template_version,
        channels=tuple(request.channels),
        purpose=request.purpose,
        schedule=schedule,
        created_at=created_at,
        updated_at=updated_at,
        rule=request.rule,
        budget=request.budget,
        max_recipients=request.max_recipients,
        in_quiet_hours=request.in_quiet_hours,
        quiet_hours=request.quiet_hours.model_dump() if request.quiet_hours else None,
        frequency_cap=request.frequency_cap,
        line_channel=request.line_channel,
    )


@router.put(
    "/admin/v1/campaigns/<campaign_id>",
    responses={**ok(200, "The draft, edited", "Campaign"), **errors(404, 409)},
)
def update_campaign(campaign_id: str, request: Annotated[CampaignUpdate, Body()]) -> dict[str, Any]:
    """Edit a draft: its fields are replaced whole (as `create` takes them, `id` apart; an optional
    field left out goes back to its default), with the `version` read. 409 campaign_changed when
    another writer got there first; 409 invalid_campaign_state unless it is a draft. Its figures
    (`last_preflight`) and any preflight job are dropped: they were of the old draft."""
    campaign = campaign_or_404(campaign_id)
    campaign.require(DRAFT, action="edited")
    if request.version != campaign.version:
        raise Conflict(
            f"campaign {campaign_id} is at version {campaign.version}, not {request.version}; read it again",
            code="campaign_changed",
            details={"version": campaign.version},
        )
    edited = _draft(request, campaign_id, created_at=campaign.created_at, updated_at=iso_from_ms(_now_ms()))
    return _save(dataclasses.replace(edited, version=campaign.version + 1), campaign.version).as_dict()


@router.delete(
    "/admin/v1/campaigns/<campaign_id>",
    responses={**ok(200, "The campaign deleted", "CampaignDeleted"), **errors(404, 409)},
)
def delete_campaign(campaign_id: str) -> dict[str, Any]:
    """Delete a draft or a cancelled campaign, with its runs (its sends stay on the timeline and in
    the report's archive). 409 invalid_campaign_state otherwise (pause or cancel it first)."""
    campaign = campaign_or_404(campaign_id)
    campaign.require(DRAFT, CANCELLED, action="deleted")
    if not admin_context().campaigns().delete(campaign_id, expected_version=campaign.version):
        raise Conflict(f"campaign {campaign_id} changed meanwhile; read it again", code="campaign_changed")
    return {"campaign_id": campaign_id, "deleted": True}


@router.get("/admin/v1/campaigns", responses=ok(200, "Every campaign", "CampaignList"))
def list_campaigns() -> dict[str, Any]:
    """Every campaign, with its status and runs."""
    return {"campaigns": [c.as_dict() for c in admin_context().campaigns().list()]}


@router.get(
    "/admin/v1/campaigns/<campaign_id>",
    responses={**ok(200, "The campaign and its runs", "CampaignDetail"), **errors(404)},
)
def get_campaign(campaign_id: str) -> dict[str, Any]:
    """The campaign, and its runs' fan-out progress (`runs_detail`)."""
    campaign = campaign_or_404(campaign_id)
    store = admin_context().campaigns()
    runs = [run.as_dict() for run_id in campaign.runs if (run := store.get_run(campaign_id, run_id))]
    return {**campaign.as_dict(), "runs_detail": runs}


def run_preflight_step(step: Any) -> str:
    """The asynchronous half of a preflight job (`{"campaign_preflight": step}`, from this
    function): walk the next pages, hand the tally on or store the figures (cdp.campaigns.preflight_jobs)."""
    if not isinstance(step, dict) or not all(isinstance(step.get(key), str) for key in ("job_id", "campaign_id")):
        return "invalid_input"
    tally = step.get("tally")
    if not isinstance(tally, dict) or not isinstance(tally.get("now_ms"), int):
        return "invalid_input"
    context = admin_context()
    return context.preflight_jobs().step(step["job_id"], step["campaign_id"], tally, context.preflight_parts)


@router.post(
    "/admin/v1/campaigns/<campaign_id>/preflight",
    responses={
        **ok(200, "What a send would do now", "CampaignPreflight"),
        **ok(202, "The audience is walked by a job: poll `status_url`", "QueryJob"),
        **errors(404, 409, 502),
    },
)
def preflight_campaign(campaign_id: str) -> tuple[dict[str, Any], int]:
    """What a send would do now: audience size, reachable per channel, suppressed by reason
    (unreachable, no_consent, capped_*, quiet_hours) and held by quiet hours, the LINE messages
    against LINE's quota this month, the cost estimate and whether it is over budget. An audience
    that cannot be walked within the request (about 20 s), or `Prefer: respond-async`: 202 with a
    preflight job (`GET /admin/v1/jobs/{id}`), whose figures are stored on the campaign
    (`last_preflight`) when it is done; while it walks, asking again answers the same job."""
    campaign = campaign_or_404(campaign_id)
    jobs = admin_context().preflight_jobs()
    running = jobs.running(campaign)
    if running is not None:
        return running.view(), 202
    now_ms = _now_ms()
    prefer = (router.current_event.get_header_value("prefer") or "").lower()
    if "respond-async" in prefer:
        return jobs.start(campaign, Tally(now_ms=now_ms)).view(), 202
    try:
        return admin_context().preflight(campaign, now_ms=now_ms), 200
    except AudienceTooLarge as too_large:
        return jobs.start(campaign, too_large.tally).view(), 202


@router.post(
    "/admin/v1/campaigns/<campaign_id>/send",
    status_code=202,
    responses={**ok(202, "Sending or scheduled, with the preflight's figures", "CampaignSent"), **errors(404, 409)},
)
def send_campaign(campaign_id: str) -> dict[str, Any]:
    """Send a draft: now (202, the run starts), or schedule it (`at`, `recurring`). 409 over_budget
    with the figures; 409 campaign_already_sent (a sent campaign is never delivered twice) or
    invalid_campaign_state; 404 when its segment or template is gone. An audience too big to walk
    within the request is sent on a preflight job's figures (fresh within the hour): 409
    preflight_running (with the job) while it walks; a send without them starts the job."""
    campaign = campaign_or_404(campaign_id)
    if campaign.status == SENT:
        raise Conflict(
            f"campaign {campaign_id} was sent; nobody gets it twice",
            code="campaign_already_sent",
            details={"status": campaign.status, "runs": list(campaign.runs)},
        )
    campaign.require(DRAFT, action="sent")
    _check_segment(campaign.segment_id)
    version = _check_template(campaign.template_id, campaign.template_version)
    now_ms = _now_ms()
    if campaign.schedule.kind == "at" and (campaign.schedule.at_ms() or 0) <= now_ms:
        raise BadRequest(
            f"`schedule.at` {campaign.schedule.at} {campaign.schedule.time_zone} is in the past",
            code="schedule_in_past",
            details={"field": "schedule.at"},
        )
    context = admin_context()
    jobs = context.preflight_jobs()
    running = jobs.running(campaign)
    if running is not None:
        raise running_conflict(running)
    figures = fresh_figures(campaign, now_ms)
    if figures is None:
        try:
            figures = context.preflight(campaign, now_ms=now_ms)
        except AudienceTooLarge as too_large:
            raise running_conflict(jobs.start(campaign, too_large.tally)) from None
    refuse_over_budget(figures)
    if campaign.schedule.kind == "now":
        moved = campaign.moved(
            SENDING, iso_from_ms(now_ms), template_version=version, last_preflight=figures, preflight_job=None
        )
        _save(moved, campaign.version)
        context.campaign_runner().fire(campaign_id)
        return {**moved.as_dict(), "preflight": figures}
    moved = campaign.moved(
        SCHEDULED, iso_from_ms(now_ms), template_version=version, last_preflight=figures, preflight_job=None
    )
    _save(moved, campaign.version)
    schedule = context.campaign_schedules().put(moved)
    return {**moved.as_dict(), "schedule_name": schedule, "preflight": figures}


@router.post(
    "/admin/v1/campaigns/<campaign_id>/pause",
    responses={**ok(200, "The paused campaign", "Campaign"), **errors(404, 409)},
)
def pause_campaign(campaign_id: str) -> dict[str, Any]:
    """Stop a scheduled or sending campaign within seconds: its schedule is removed, its run stops
    fanning out, and the sender skips its queued requests. `resume` picks it up again."""
    campaign = campaign_or_404(campaign_id)
    campaign.require(*LIVE, action="paused")
    moved = _save(campaign.moved(PAUSED, iso_from_ms(_now_ms()), resume_to=campaign.status), campaign.version)
    _move_run(campaign, RUN_PAUSED, only_from=RUN_SENDING)
    if campaign.schedule.kind != "now":
        admin_context().campaign_schedules().delete(campaign_id)
    return moved.as_dict()


@router.post(
    "/admin/v1/campaigns/<campaign_id>/resume",
    responses={**ok(200, "The campaign, back to where it was", "Campaign"), **errors(404, 409)},
)
def resume_campaign(campaign_id: str) -> dict[str, Any]:
    """A paused campaign goes on: its run fans out again (people already sent are answered from the
    sender's ledger, never sent twice) and its schedule is put back. So does one LINE's monthly
    limit paused (`paused_reason: quota_exhausted`), once the limit allows."""
    campaign = campaign_or_404(campaign_id)
    campaign.require(PAUSED, action="resumed")
    back = campaign.resume_to or SCHEDULED
    moved = _save(campaign.moved(back, iso_from_ms(_now_ms()), resume_to=None, paused_reason=None), campaign.version)
    context = admin_context()
    run = context.campaigns().get_run(campaign_id, campaign.current_run) if campaign.current_run else None
    if back == SENDING and run is not None:
        restarted = dataclasses.replace(
            run, status=RUN_SENDING, cursor=None, enqueued=0, audience=0, finished_at=None, version=run.version + 1
        )
        if context.campaigns().replace_run(restarted, expected_version=run.version):
            context.campaign_runner().continue_run(campaign_id, run.run_id)
    if campaign.schedule.kind != "now" and (back == SCHEDULED or campaign.schedule.kind == "recurring"):
        context.campaign_schedules().put(moved)
    return moved.as_dict()


@router.post(
    "/admin/v1/campaigns/<campaign_id>/cancel",
    responses={**ok(200, "The cancelled campaign", "Campaign"), **errors(404, 409)},
)
def cancel_campaign(campaign_id: str) -> dict[str, Any]:
    """Final: the schedule is deleted, the run stops, queued requests are skipped by the sender."""
    campaign = campaign_or_404(campaign_id)
    campaign.require(DRAFT, SCHEDULED, SENDING, PAUSED, action="cancelled")
    moved = _save(
        campaign.moved(CANCELLED, iso_from_ms(_now_ms()), resume_to=None, paused_reason=None), campaign.version
    )
    _move_run(campaign, RUN_CANCELLED, only_from=None)
    if campaign.schedule.kind != "now":
        admin_context().campaign_schedules().delete(campaign_id)
    return moved.as_dict()


def _move_run(campaign: Campaign, status: str, *, only_from: str | None) -> None:
    if not campaign.current_run:
        return
    store = admin_context().campaigns()
    for _attempt in range(5):
        run = store.get_run(campaign.campaign_id, campaign.current_run)
        if run is None or run.status == status or (only_from is not None and run.status != only_from):
            return
        if run.status == "sent" and status == RUN_CANCELLED:
            return  # a finished run keeps its record
        moved = dataclasses.replace(run, status=status, version=run.version + 1)
        if store.replace_run(moved, expected_version=run.version):
            return


@router.get("/admin/v1/messaging/pricing", responses=ok(200, "The pricing config in force", "MessagingPricing"))
def get_pricing() -> dict[str, Any]:
    """The workspace's pricing config (defaults: NT$800 a month includes 4,000 LINE messages,
    NT$0.2 per extra message) and its version."""
    pricing, version = admin_context().pricing().read()
    return {**pricing.as_dict(), "version": version}


@router.put(
    "/admin/v1/messaging/pricing",
    responses={**ok(200, "The pricing config saved", "MessagingPricing"), **errors(409)},
)
def put_pricing(request: Annotated[PricingUpdate, Body()]) -> dict[str, Any]:
    """Change the pricing config: the fields sent replace the stored ones; `version` is the one
    read (0 before any change). 409 rules_version_conflict when it changed meanwhile."""
    store = admin_context().pricing()
    current, _version = store.read()
    sent = {key: value for key, value in request.fields().items() if key != "version"}
    pricing = Pricing.parse({**current.as_dict(), **sent})
    version = store.write(pricing, expected_version=request.version)
    return {**pricing.as_dict(), "version": version}
