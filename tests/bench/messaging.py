"""`python -m tests.bench.messaging [recipients]`: the send point's numbers (docs/messaging.md).

1. Throughput: recipients per second through the send point (in-memory stores, one process) to the
   local LINE fake over HTTP, with personal content (one push each) and identical content
   (multicasts of 500).
2. What a recipient costs: the send point on moto with its DynamoDB adapters, metered like
   tests/bench/cost.py (calls, WRU/RRU from the items' real sizes), then Lambda invocations per
   1,000 recipients and US$ per 1,000,000 LINE recipients at ap-northeast-1 list prices (LINE's own
   price apart). Lambda time is the send point's own time plus an assumed latency per AWS call and
   per LINE request, spread over the sender's threads.

Results: tests/bench/results/messaging-<time>.json.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from tests.bench.cost import PRICES, PRICES_AS_OF, Meter
from tests.bench.run import RESULTS, moto_stack

FAN_OUT_BATCH = 500  # recipients per sender invocation (one multicast's worth)
SENDER_MEMORY_GB = 0.5  # infra/cdp_infra/messaging.py
PARALLELISM = 16  # CDP_MESSAGE_SENDER_PARALLELISM's default
LINE_LATENCY_MS = 60.0  # assumed round trip to api.line.me from ap-northeast-1
METERED_RECIPIENTS = 300
PROVIDER = "bench-provider"
TOKEN = "bench-token"


def _user(index: int) -> str:
    return f"U{index:032x}"


def _profiles(count: int, personal: bool) -> list[Any]:
    from cdp.identity.identifiers import Identifier, line_identifier
    from cdp.profiles.model import Profile, Stamped

    made = []
    for index in range(count):
        profile = Profile.new(f"p{index:07d}", "2026-01-01T00:00:00.000Z")
        identifier = line_identifier(PROVIDER, _user(index))
        profile.identifiers[identifier.key] = {
            "type": "line",
            "value": identifier.value,
            "added_at": profile.created_at,
        }
        member = Identifier("member_id", f"M{index:07d}")
        profile.identifiers[member.key] = {"type": "member_id", "value": member.value, "added_at": profile.created_at}
        profile.line_accounts[identifier.value] = Stamped("friend", profile.created_at, "line:default", "e")
        name = f"n{index}" if personal else "friend"
        profile.traits["name"] = Stamped(name, profile.created_at, "partner:crm", "t")
        made.append(profile)
    return made


def _requests(count: int, campaign: str) -> list[Any]:
    from cdp.messaging.request import SendRequest

    return [
        SendRequest(
            send_key=f"{campaign}:{index}",
            profile_id=f"p{index:07d}",
            template_id="spring",
            kind="campaign",
            campaign_id=campaign,
            purpose="marketing",
            channels=["line"],
            quiet_hours={"start": "00:00", "end": "00:00"},
        )
        for index in range(count)
    ]


def _point(fake_url: str, **stores: Any) -> Any:
    from cdp.adapters.line_api import LineApiClient, LineMessagingApi, per_sender_buckets
    from cdp.clock import SystemClock
    from cdp.ingestion.channels import LineChannels
    from cdp.messaging.send_point import SendPoint

    from tests.fakes import FakeSecrets
    from tests.fakes_messaging import FakeRenderer

    renderer = FakeRenderer()
    renderer.add("spring", line="Hi {name}, spring sale: 20% off")
    secret = {"channels": {"default": {"channelSecret": "s", "channelAccessToken": TOKEN, "providerId": PROVIDER}}}
    return SendPoint(
        renderer=renderer,
        clock=SystemClock(),
        line_channels=LineChannels(FakeSecrets(secret), "channels"),
        line=LineMessagingApi(LineApiClient(fake_url), buckets=per_sender_buckets(1)),
        parallelism=1,
        **stores,
    )


def throughput(recipients: int) -> dict[str, Any]:
    from infra.local.line_fake import LineApiFake
    from tests.fakes import FakeProfileStore, FakeRawEventStore
    from tests.fakes_messaging import (
        FakeFrequencyCaps,
        FakePolicies,
        FakeReleases,
        FakeSendLedger,
        FakeSuppressions,
    )

    results: dict[str, Any] = {}
    for personal in (True, False):
        with LineApiFake() as fake:
            fake.register_channel(TOKEN, "U" + "e" * 32)
            profiles = FakeProfileStore()
            for profile in _profiles(recipients, personal):
                profiles.profiles[profile.profile_id] = profile
            point = _point(
                fake.base_url,
                profiles=profiles,
                ledger=FakeSendLedger(),
                caps=FakeFrequencyCaps(),
                suppressions=FakeSuppressions(),
                policies=FakePolicies(),
                releases=FakeReleases(),
                events=FakeRawEventStore(),
            )
            requests = _requests(recipients, "bench")
            start = time.perf_counter()
            states: Counter[str] = Counter()
            for offset in range(0, recipients, FAN_OUT_BATCH):
                states.update(r.state for r in point.send_many(requests[offset : offset + FAN_OUT_BATCH]))
            elapsed = time.perf_counter() - start
            results["personal" if personal else "identical"] = {
                "recipients": recipients,
                "sent": states["sent"],
                "seconds": round(elapsed, 2),
                "recipients_per_second": round(recipients / elapsed),
                "line_requests": dict(Counter(call["path"] for call in fake.calls())),
                "line_delivered": sum(len(record["delivered_to"]) for record in fake.sent()),
            }
    return results


def metered(recipients: int = METERED_RECIPIENTS) -> dict[str, Any]:
    import boto3
    from cdp.adapters import aws
    from cdp.adapters.dynamodb.profile_store import DynamoProfileStore, profile_pk, profile_to_document
    from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
    from cdp.adapters.dynamodb.send_ledger import (
        DynamoFrequencyCaps,
        DynamoPolicySource,
        DynamoSendLedger,
        DynamoSuppressionList,
    )

    from infra.local.line_fake import LineApiFake
    from tests.fakes_messaging import FakeReleases

    figures: dict[str, Any] = {}
    with moto_stack() as (resources, _config), LineApiFake() as fake:
        fake.register_channel(TOKEN, "U" + "e" * 32)
        core = resources.function_env["event_processor"]["CDP_CORE_TABLE"]
        raw = resources.function_env["line_webhook"]["CDP_RAW_EVENTS_TABLE"]
        dynamodb = aws.client("dynamodb")
        meter = Meter(boto3.client("dynamodb"))
        meter.attach(dynamodb)
        for personal in (True, False):
            for profile in _profiles(recipients, personal):
                dynamodb.put_item(
                    TableName=core,
                    Item={
                        "pk": {"S": profile_pk(profile.profile_id)},
                        "sk": {"S": "PROFILE"},
                        "doc": {"S": json.dumps(profile_to_document(profile))},
                        "version": {"N": "1"},
                    },
                )
            point = _point(
                fake.base_url,
                profiles=DynamoProfileStore(dynamodb, core),
                ledger=DynamoSendLedger(dynamodb, core),
                caps=DynamoFrequencyCaps(dynamodb, core),
                suppressions=DynamoSuppressionList(dynamodb, core),
                policies=DynamoPolicySource(dynamodb, core),
                releases=FakeReleases(),
                events=DynamoRawEventStore(dynamodb, raw, 30 * 86400),
            )
            kind = "personal" if personal else "identical"
            requests = _requests(recipients, f"metered-{kind}")
            line_before = len(fake.calls())
            with meter.path(kind, events=recipients, invocations=math.ceil(recipients / FAN_OUT_BATCH)) as tally:
                states = Counter(r.state for r in point.send_many(requests))
            figures[kind] = {
                "sent": states["sent"],
                "line_requests": len(fake.calls()) - line_before,
                **tally.per_event(PARALLELISM),
            }
    return figures


def cost(per_recipient: dict[str, Any], line_requests_per_recipient: float) -> dict[str, Any]:
    """US$ per 1,000,000 LINE recipients: DynamoDB on demand and the sender's Lambda time."""
    million = 1_000_000
    invocations = million / FAN_OUT_BATCH
    ms = (
        per_recipient["own_ms"]
        + per_recipient["aws_latency_ms"]
        + LINE_LATENCY_MS * line_requests_per_recipient / PARALLELISM
    )
    gb_seconds = million * ms / 1000 * SENDER_MEMORY_GB
    parts = {
        "dynamodb_writes": million * per_recipient["wru"] / 1e6 * PRICES["dynamodb_on_demand_per_million_wru"],
        "dynamodb_reads": million * per_recipient["rru"] / 1e6 * PRICES["dynamodb_on_demand_per_million_rru"],
        "lambda_duration": gb_seconds * PRICES["lambda_arm64_per_gb_second"],
        "lambda_requests": invocations / 1e6 * PRICES["lambda_per_million_requests"],
    }
    return {
        "usd": {name: round(value, 2) for name, value in parts.items()},
        "usd_total": round(sum(parts.values()), 2),
        "lambda_invocations_per_1000": 1000 / FAN_OUT_BATCH,
        "dynamodb_requests_per_1000": round(1000 * sum(per_recipient["dynamodb_calls"].values())),
        "assumed_ms_per_recipient": round(ms, 2),
    }


def run_all(recipients: int = 20_000) -> dict[str, Any]:
    """Throughput through the send point to the LINE fake, then metered calls and cost per recipient."""
    report: dict[str, Any] = {"prices_as_of": PRICES_AS_OF, "throughput": throughput(recipients)}
    measured = metered()
    report["per_recipient"] = measured
    report["per_million_line_recipients"] = {
        kind: cost(figures, figures["line_requests"] / METERED_RECIPIENTS) for kind, figures in measured.items()
    }
    return report


def summary(report: dict[str, Any]) -> list[str]:
    lines = ["Messaging (send point to the LINE fake):"]
    for kind, figures in report["throughput"].items():
        lines.append(f"  {kind} content: {figures['recipients_per_second']} recipients/s")
    for kind, figures in report["per_million_line_recipients"].items():
        lines.append(
            f"  {kind}: US$ {figures['usd_total']} per 1,000,000 LINE recipients (AWS only), "
            f"{figures['dynamodb_requests_per_1000']} DynamoDB requests and "
            f"{figures['lambda_invocations_per_1000']} invocations per 1,000"
        )
    return lines


def main() -> None:
    recipients = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    report = run_all(recipients)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"messaging-{datetime.now(tz=UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
