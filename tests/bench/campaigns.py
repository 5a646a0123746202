"""Campaign benchmarks (part of `make bench`):

1. A campaign to CDP_BENCH_CAMPAIGN_RECIPIENTS LINE friends (default 100,000), each with personal
   content (one push each, no multicast), through the real fan-out (cdp.campaigns.fanout: pages of
   500 members, queue messages of 250 requests), the real sender's check (cdp.campaigns.gate) and
   the real send point (cdp.messaging.send_point, 16 threads, the LINE adapter with one sender's
   token buckets) to the LINE fake. The fake answers in process (the adapter's transport calls its
   request handling; no sockets: 100,000 pushes over HTTP leave the machine's ephemeral ports in
   TIME_WAIT); a smaller run over HTTP (CDP_BENCH_CAMPAIGN_HTTP_RECIPIENTS, default 5,000) shows
   what the sockets add. The stores are the in-memory fakes: the number is the product's own CPU,
   not DynamoDB's latency. The LINE fake must show exactly one delivery per recipient.
2. DynamoDB requests and Lambda invocations per 1,000 recipients, counted at the ports (each port
   call is one DynamoDB request in its adapter; BatchGetItem per 100 keys) over the same run.
3. US$ per 1,000,000 LINE recipients at ap-northeast-1 list prices (tests/bench/cost.py), LINE's
   own price apart.
4. Preflight over a segment of CDP_BENCH_PREFLIGHT_PROFILES generated profiles (default
   1,000,000) on the in-memory fakes, plus the DynamoDB requests it makes.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from typing import Any

from tests.bench.cost import LATENCY_MS, PRICES

# What each port call is in DynamoDB (cdp.adapters.dynamodb.*).
DYNAMODB_CALL = {
    "ledger.get": "GetItem",
    "ledger.put": "PutItem",
    "ledger.put_batch": "PutItem",
    "caps.take": "TransactWriteItems",
    "caps.give_back": "UpdateItem",
    "suppressions.suppressed": "GetItem",
    "events.store_once": "PutItem",
    "profiles.get": "GetItem",
    "segments.members": "Query",
    "campaigns.get": "GetItem",
    "campaigns.get_run": "GetItem",
    "campaigns.start_run": "PutItem",
    "campaigns.replace_run": "PutItem",
    "campaigns.replace": "PutItem",
    "campaigns.run_status": "BatchGetItem",
    "caps.counts": "BatchGetItem",
}
SENDER_MEMORY_GB = 0.5  # infra/cdp_infra/messaging.py
RUNNER_MEMORY_GB = 0.5  # infra/cdp_infra/campaigns.py
SENDER_PARALLELISM = 16
LINE_LATENCY_MS = 40.0  # assumed push round trip from ap-northeast-1 to api.line.me
SENDER_CONCURRENCY = 10  # the default reserved share: 200 pushes/s per sender
# Every outcome event (Message Sent) is ingested like any event: docs/costs.md measures US$ 8.51
# per 1,000,000 events at 1M events/day (`python -m tests.bench.cost`; the edge, the processor,
# timelines, the bus).
INGEST_USD_PER_MILLION_EVENTS = 8.51


class Counted:
    """A port with its calls counted (`<name>.<method>`); BatchGetItem counted per 100 keys."""

    def __init__(self, inner: Any, name: str, counter: Counter[str]) -> None:
        self._inner, self._name, self._counter = inner, name, counter

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._inner, attribute)
        if not callable(value):
            return value
        key = f"{self._name}.{attribute}"

        def call(*args: Any, **kwargs: Any) -> Any:
            if key in ("profiles.get_many",):
                self._counter["BatchGetItem"] += math.ceil(len(args[0]) / 100)
            elif key == "caps.counts":
                self._counter["BatchGetItem"] += math.ceil(sum(len(k) for k in args[0].values()) / 100)
            elif key in DYNAMODB_CALL:
                self._counter[DYNAMODB_CALL[key]] += 1
            return value(*args, **kwargs)

        return call


class _Members:
    """The segment's memberships in key order, paged by bisection like DynamoDB's Query (the test
    fake sorts every membership per page, which is quadratic over a million)."""

    def __init__(self, profile_ids: list[str]) -> None:
        self._ids = sorted(profile_ids)

    def members(self, segment_id: str, *, limit: int, after: str | None = None) -> tuple[list[Any], str | None]:
        import bisect

        start = 0 if after is None else bisect.bisect_right(self._ids, after)
        page = [_membership(pid) for pid in self._ids[start : start + limit]]
        more = start + limit < len(self._ids)
        return page, (page[-1].profile_id if more and page else None)

    def member_of(self, profile_id: str, segment_ids: Any) -> set[str]:
        return set()


def _world(recipients: int, counter: Counter[str]) -> dict[str, Any]:
    from cdp.campaigns.audience import Audience
    from cdp.identity.identifiers import Identifier, line_identifier
    from cdp.profiles.model import Profile, Stamped

    from tests.fakes import FakeProfileStore
    from tests.unit.test_send_point import PROVIDER

    profiles = FakeProfileStore()
    ids: list[str] = []
    for index in range(recipients):
        profile_id = f"p_{index:08d}"
        profile = Profile.new(profile_id, "2026-01-01T00:00:00.000Z")
        identifier = line_identifier(PROVIDER, "U" + f"{index:032x}")
        profile.line_accounts[identifier.value] = Stamped("friend", "2026-01-01T00:00:00.000Z", "line", "e1")
        profile.traits["name"] = Stamped(f"會員{index}", "2026-01-01T00:00:00.000Z", "partner:crm", "e0")
        profiles.seed(profile, [identifier, Identifier("member_id", f"M-{index}")])
        ids.append(profile_id)
    segments = _Members(ids)
    return {
        "profiles": profiles,
        "segments": segments,
        "audience": Audience(Counted(segments, "segments", counter), Counted(profiles, "profiles", counter)),
    }


def _membership(profile_id: str) -> Any:
    from cdp.segments.store import Membership

    return Membership("everyone", profile_id, "2026-01-01T00:00:00.000Z", 1)


def _in_process(fake: Any) -> Any:
    """A LineApiClient transport answered by the fake's own request handling, without a socket."""
    import json
    import urllib.parse

    from cdp.adapters.line_api import HttpRequest, HttpResponse

    from infra.local.line_fake import _Request

    def transport(request: HttpRequest) -> HttpResponse:
        split = urllib.parse.urlsplit(request.url)
        headers = {name.lower(): value for name, value in request.headers.items()}
        answer = fake._handle(
            _Request(request.method, split.path, urllib.parse.parse_qs(split.query), headers, request.body or b"")
        )
        body = b"" if answer.body is None else json.dumps(answer.body, ensure_ascii=False).encode()
        return HttpResponse(answer.status, body, dict(answer.headers))

    return transport


def send_campaign(recipients: int, *, over_http: bool = False) -> dict[str, Any]:
    from cdp.adapters.line_api import LineApiClient, LineMessagingApi, per_sender_buckets
    from cdp.campaigns.fanout import CampaignRunner
    from cdp.campaigns.gate import CampaignGate
    from cdp.campaigns.model import Campaign, Schedule
    from cdp.ingestion.channels import LineChannels
    from cdp.messaging.request import SendRequest
    from cdp.messaging.send_point import SendPoint

    from infra.local.line_fake import LineApiFake
    from tests.fakes import FakeRawEventStore, FakeSecrets, FixedClock
    from tests.fakes_campaigns import FakeCampaignStore, FakeContinuation, FakeSendQueue
    from tests.fakes_messaging import (
        FakeFrequencyCaps,
        FakePolicies,
        FakeReleases,
        FakeRenderer,
        FakeSendLedger,
        FakeSuppressions,
    )
    from tests.unit.test_send_point import MONDAY_11, PROVIDER

    counter: Counter[str] = Counter()
    world = _world(recipients, counter)
    clock = FixedClock(MONDAY_11)
    fake = LineApiFake()
    if over_http:
        fake.start()
    try:
        fake.register_channel("bench-token", "U" + "0" * 31 + "1")
        renderer = FakeRenderer()
        renderer.add("coupon", line="{name}，首購 8 折：FIRST20")  # personal: one push each
        secrets = FakeSecrets(
            {"line": {"default": {"channelSecret": "s", "channelAccessToken": "bench-token", "providerId": PROVIDER}}}
        )
        point = SendPoint(
            profiles=Counted(world["profiles"], "profiles", counter),
            renderer=renderer,
            ledger=Counted(FakeSendLedger(), "ledger", counter),
            caps=Counted(FakeFrequencyCaps(), "caps", counter),
            suppressions=Counted(FakeSuppressions(), "suppressions", counter),
            policies=FakePolicies(),
            releases=FakeReleases(),
            events=Counted(FakeRawEventStore(), "events", counter),
            clock=clock,
            line_channels=LineChannels(secrets, "line"),
            line=LineMessagingApi(
                LineApiClient(fake.base_url)
                if over_http
                else LineApiClient("http://line.in-process", transport=_in_process(fake)),
                buckets=per_sender_buckets(1),
            ),
            parallelism=SENDER_PARALLELISM,
        )
        store, queue, continuation = FakeCampaignStore(), FakeSendQueue(), FakeContinuation()
        counted_store = Counted(store, "campaigns", counter)
        store.create(
            Campaign(
                campaign_id="bench",
                name="bench",
                segment_id="everyone",
                template_id="coupon",
                channels=("line",),
                purpose="marketing",
                schedule=Schedule("now"),
                created_at="2026-05-04T00:00:00.000Z",
                updated_at="2026-05-04T00:00:00.000Z",
                status="sending",
                template_version=1,
            )
        )
        runner = CampaignRunner(
            store=counted_store, audience=world["audience"], queue=queue, continuation=continuation, clock=clock
        )
        gate = CampaignGate(counted_store, clock, ttl_ms=2000)
        started = time.perf_counter()
        runner.fire("bench")
        runner_invocations = 1
        while continuation.pending:
            runner.fan_out(*continuation.pending.pop(0))
            runner_invocations += 1
        fanned = time.perf_counter()
        messages = queue.take()
        states: Counter[str] = Counter()
        for message in messages:  # one sender invocation per queue message
            requests = [SendRequest.model_validate(body) for body in message]
            going = [r for r in requests if gate.stopped(r.send_key) is None]
            states.update(result.state for result in point.send_many(going))
        sent_s = time.perf_counter() - fanned
        deliveries = Counter(to for record in fake.sent() for to in record["recipients"])
    finally:
        if over_http:
            fake.stop()
    assert states == {"sent": recipients}, states
    assert len(deliveries) == recipients and set(deliveries.values()) == {1}, "one delivery per recipient"
    per_thousand = {name: round(count * 1000 / recipients, 1) for name, count in sorted(counter.items())}
    return {
        "recipients": recipients,
        "line_fake": "HTTP" if over_http else "in process",
        "fan_out_s": round(fanned - started, 2),
        "fan_out_recipients_per_s": round(recipients / (fanned - started)),
        "send_s": round(sent_s, 2),
        "recipients_per_s": round(recipients / sent_s),
        "line_deliveries": sum(deliveries.values()),
        "dynamodb_requests_per_1000": per_thousand,
        "dynamodb_requests_per_1000_total": round(sum(counter.values()) * 1000 / recipients, 1),
        "lambda_invocations_per_1000": {
            "campaign_runner": round(runner_invocations * 1000 / recipients, 2),
            "message_sender": round(len(messages) * 1000 / recipients, 2),
        },
    }


def cost_per_million(measured: dict[str, Any]) -> dict[str, Any]:
    """US$ per 1,000,000 LINE recipients: Lambda, DynamoDB, SQS, and the outcome events' ingestion."""
    requests = {name: per * 1000 for name, per in measured["dynamodb_requests_per_1000"].items()}
    # Units, for a text message: each put is one item of at most 1 KB (the ledger record with the
    # rendered payload, the outcome raw event); the cap transaction writes two counters, each
    # billed twice. Reads: a consistent GetItem of at most 4 KB is 1 RRU; a BatchGetItem of 100
    # profiles (about 2 KB each, eventually consistent) about 50; a Query page of 500 memberships 7.
    wru = requests.get("PutItem", 0) * 1 + requests.get("TransactWriteItems", 0) * 4 + requests.get("UpdateItem", 0)
    rru = requests.get("GetItem", 0) * 1 + requests.get("BatchGetItem", 0) * 50 + requests.get("Query", 0) * 7
    invocations = measured["lambda_invocations_per_1000"]
    sender_calls = sum(requests.values()) / 1_000_000
    # A recipient's DynamoDB round trips and its LINE push, over the sender's threads; at least the
    # rate share (200 pushes/s per sender when 10 run at once).
    ddb_ms = sum(LATENCY_MS.get(f"dynamodb.{name}", 8.0) * count for name, count in requests.items()) / 1_000_000
    per_recipient_ms = max((ddb_ms + LINE_LATENCY_MS) / SENDER_PARALLELISM, 1000 / (2000 / SENDER_CONCURRENCY))
    sender_gb_s = 1_000_000 * per_recipient_ms / 1000 * SENDER_MEMORY_GB
    runner_gb_s = invocations["campaign_runner"] * 1000 * 2.0 * RUNNER_MEMORY_GB  # ~2 s per 10,000 members
    lambda_usd = (sender_gb_s + runner_gb_s) * PRICES["lambda_arm64_per_gb_second"] + (
        (invocations["campaign_runner"] + invocations["message_sender"]) * 1000 / 1e6
    ) * PRICES["lambda_per_million_requests"]
    dynamodb_usd = (
        wru * PRICES["dynamodb_on_demand_per_million_wru"] + rru * PRICES["dynamodb_on_demand_per_million_rru"]
    ) / 1e6
    sqs_usd = invocations["message_sender"] * 1000 * 3 / 1e6 * 0.40  # send, receive, delete per message
    ingest_usd = INGEST_USD_PER_MILLION_EVENTS  # one Message Sent event per recipient
    return {
        "assumptions": {
            "sender_ms_per_recipient": round(per_recipient_ms, 2),
            "dynamodb_requests_per_recipient": round(sender_calls, 2),
            "line_latency_ms": LINE_LATENCY_MS,
            "sqs_usd_per_million_requests": 0.40,
        },
        "wru": round(wru),
        "rru": round(rru),
        "usd": {
            "lambda": round(lambda_usd, 2),
            "dynamodb": round(dynamodb_usd, 2),
            "sqs": round(sqs_usd, 2),
            "outcome_events_ingested": ingest_usd,
            "total": round(lambda_usd + dynamodb_usd + sqs_usd + ingest_usd, 2),
        },
    }


def preflight(profiles: int) -> dict[str, Any]:
    from cdp.campaigns.model import Campaign, Schedule
    from cdp.campaigns.preflight import Preflight, PreflightInputs
    from cdp.campaigns.pricing import Pricing
    from cdp.messaging.policy import MessagingPolicy

    from tests.fakes_campaigns import FakeCapCounts, FakeQuota
    from tests.fakes_messaging import FakeSuppressions
    from tests.unit.test_send_point import MONDAY_11, PROVIDER

    counter: Counter[str] = Counter()
    built = time.perf_counter()
    world = _world(profiles, counter)
    built = time.perf_counter() - built
    counter.clear()
    campaign = Campaign(
        campaign_id="bench",
        name="bench",
        segment_id="everyone",
        template_id="coupon",
        channels=("line", "email"),
        purpose="marketing",
        schedule=Schedule("now"),
        created_at="2026-05-04T00:00:00.000Z",
        updated_at="2026-05-04T00:00:00.000Z",
        budget=100.0,
    )
    checker = Preflight(world["audience"], Counted(FakeCapCounts({}), "caps", counter), FakeQuota())
    inputs = PreflightInputs(
        policy=MessagingPolicy(), pricing=Pricing(), line_provider=PROVIDER, suppressed=FakeSuppressions().suppressed
    )
    started = time.perf_counter()
    figures = checker.run(campaign, inputs, now_ms=MONDAY_11)
    elapsed = time.perf_counter() - started
    assert figures["targeted"] == profiles
    return {
        "profiles": profiles,
        "seconds": round(elapsed, 2),
        "profiles_per_s": round(profiles / elapsed),
        "generated_in_s": round(built, 1),
        "dynamodb_requests": dict(counter),
        "estimate": figures["cost"],
    }


def run_all() -> dict[str, Any]:
    recipients = int(os.environ.get("CDP_BENCH_CAMPAIGN_RECIPIENTS", "100000"))
    profiles = int(os.environ.get("CDP_BENCH_PREFLIGHT_PROFILES", "1000000"))
    over_http = int(os.environ.get("CDP_BENCH_CAMPAIGN_HTTP_RECIPIENTS", "5000"))
    measured = send_campaign(recipients)
    return {
        "send": measured,
        "send_over_http": send_campaign(over_http, over_http=True),
        "cost_per_million_line_recipients": cost_per_million(measured),
        "preflight": preflight(profiles),
    }


def summary(results: dict[str, Any]) -> list[str]:
    send, cost, check = results["send"], results["cost_per_million_line_recipients"], results["preflight"]
    http = results["send_over_http"]
    return [
        f"campaign of {send['recipients']:,}: fan-out {send['fan_out_recipients_per_s']:,} recipients/s, "
        f"send point → LINE fake {send['recipients_per_s']:,} recipients/s, {send['line_deliveries']:,} deliveries "
        f"(one each); over HTTP ({http['recipients']:,}): {http['recipients_per_s']:,} recipients/s",
        f"per 1,000 recipients: {send['dynamodb_requests_per_1000_total']} DynamoDB requests, Lambda invocations "
        f"{send['lambda_invocations_per_1000']}",
        f"US$ per 1,000,000 LINE recipients (LINE's price apart): {cost['usd']}",
        f"preflight of {check['profiles']:,} profiles: {check['seconds']} s ({check['profiles_per_s']:,}/s), "
        f"DynamoDB requests {check['dynamodb_requests']}",
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(run_all(), indent=2))
