"""Replay the event processor's dead letters: `python -m cdp_ops.replay {list,collect,replay}`.

    python -m cdp_ops.replay list                       # dead letters kept by dlq_archiver
    python -m cdp_ops.replay replay --dry-run           # what would be replayed
    python -m cdp_ops.replay replay                     # re-submit them to the event processor
    python -m cdp_ops.replay replay --event-id 'partner#web#m-1'
    python -m cdp_ops.replay collect                    # turn waiting on-failure messages into dead letters

Resources come from the stack's outputs (`--stack`, default LineCdp) unless named with the flags;
the AWS endpoint, region and credentials come from the usual AWS configuration (AWS_PROFILE,
AWS_REGION, AWS_ENDPOINT_URL for the local stack) or `--region` / `--endpoint-url`. Replay is safe
to repeat: the processor skips events it already applied. Output is JSON; the exit status is 0
when everything asked for was replayed, 1 when some events failed again or had expired, 2 on
bad arguments or missing resources.

The logic is cdp.operations.dead_letters; this module only parses arguments and wires adapters.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import boto3
from cdp.adapters.dead_letters import (
    DynamoDeadLetterStore,
    DynamoRawEventItems,
    DynamoStreamRecords,
    LambdaProcessorGateway,
)
from cdp.clock import SystemClock
from cdp.errors import CdpError
from cdp.operations.dead_letters import DeadLetterArchive, DeadLetterReplay, StreamRecordsGone

DEFAULT_STACK = "LineCdp"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000
EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2

# Stack outputs (infra/cdp_infra/stack.py) -> the flag that overrides each.
OUTPUTS = {
    "core_table": "CoreTableName",
    "raw_events_table": "RawEventsTableName",
    "processor_function": "EventProcessorFunctionName",
    "queue_url": "DeadLetterQueueUrl",
}
NEEDS = {
    "list": ("core_table",),
    "replay": ("core_table", "raw_events_table", "processor_function"),
    "collect": ("core_table", "queue_url"),
}


class UsageError(Exception):
    """Arguments or resources that make the command impossible (exit status 2)."""


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIMIT}")
    return value


def _event_id(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an event id cannot be empty")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cdp_ops.replay", description="Replay the event processor's dead letters."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", default=DEFAULT_STACK, help="CloudFormation stack to read names from")
    common.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    common.add_argument("--endpoint-url", help="AWS endpoint, e.g. the local stack's moto endpoint")
    common.add_argument("--core-table", help="core table name (default: stack output CoreTableName)")
    common.add_argument("--raw-events-table", help="raw events table name (default: RawEventsTableName)")
    common.add_argument("--processor-function", help="event processor function (default: EventProcessorFunctionName)")
    common.add_argument("--queue-url", help="the processor's on-failure queue (default: DeadLetterQueueUrl)")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", parents=[common], help="print the dead letters")
    listing.add_argument("--limit", type=_limit, default=DEFAULT_LIMIT)
    replay = commands.add_parser("replay", parents=[common], help="re-submit dead letters to the processor")
    replay.add_argument(
        "--event-id", action="append", type=_event_id, dest="event_ids", help="only this event (repeatable)"
    )
    replay.add_argument("--limit", type=_limit, default=DEFAULT_LIMIT, help="at most this many dead letters")
    replay.add_argument("--dry-run", action="store_true", help="show what would be replayed, change nothing")
    collect = commands.add_parser("collect", parents=[common], help="turn on-failure messages into dead letters")
    collect.add_argument("--max-messages", type=_limit, default=DEFAULT_LIMIT)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    args = build_parser().parse_args(list(argv))
    if args.command == "replay" and args.event_ids and args.limit != DEFAULT_LIMIT:
        build_parser().error("--event-id and --limit cannot be combined")
    return args


@dataclass(frozen=True, slots=True)
class Resources:
    core_table: str = ""
    raw_events_table: str = ""
    processor_function: str = ""
    queue_url: str = ""


def resolve_resources(args: argparse.Namespace, stack_outputs: Callable[[str], dict[str, str]]) -> Resources:
    """Names from the flags; what is missing from the stack's outputs (read only if needed)."""
    names = {field: getattr(args, field) or "" for field in OUTPUTS}
    missing = [field for field in NEEDS[args.command] if not names[field]]
    if missing:
        outputs = stack_outputs(args.stack)
        for field in missing:
            names[field] = outputs.get(OUTPUTS[field], "")
    still = [f"--{field.replace('_', '-')}" for field in NEEDS[args.command] if not names[field]]
    if still:
        raise UsageError(f"stack {args.stack} has no output for {', '.join(still)}: pass them explicitly")
    return Resources(**names)


def cloudformation_outputs(session: Any, endpoint_url: str | None) -> Callable[[str], dict[str, str]]:
    def read(stack: str) -> dict[str, str]:
        client = session.client("cloudformation", endpoint_url=endpoint_url)
        try:
            stacks = client.describe_stacks(StackName=stack)["Stacks"]
        except Exception as exc:  # no such stack, no credentials: the operator must name the resources
            raise UsageError(f"cannot read the outputs of stack {stack}: {exc}") from exc
        return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}

    return read


def run(args: argparse.Namespace, session: Any, out: TextIO) -> int:
    resources = resolve_resources(args, cloudformation_outputs(session, args.endpoint_url))

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=args.endpoint_url)

    store = DynamoDeadLetterStore(client("dynamodb"), resources.core_table)
    if args.command == "list":
        letters = store.pending(args.limit)
        json.dump({"deadLetters": [letter.as_dict() for letter in letters]}, out, indent=2)
        out.write("\n")
        return EXIT_OK
    if args.command == "collect":
        return _collect(args, client, store, resources.queue_url, out)
    replay = DeadLetterReplay(
        store,
        DynamoRawEventItems(client("dynamodb"), resources.raw_events_table),
        LambdaProcessorGateway(client("lambda"), resources.processor_function),
    )
    report = replay.replay(event_ids=args.event_ids, limit=args.limit, dry_run=args.dry_run)
    json.dump(report.as_dict(), out, indent=2)
    out.write("\n")
    return EXIT_OK if report.ok else EXIT_INCOMPLETE


def _collect(args: argparse.Namespace, client: Callable[[str], Any], store: Any, queue_url: str, out: TextIO) -> int:
    """What dlq_archiver does, by hand: for a stack whose archiver could not keep up, or locally."""
    sqs = client("sqs")
    archive = DeadLetterArchive(DynamoStreamRecords(client("dynamodbstreams")), store, SystemClock())
    recorded: list[str] = []
    unreadable: list[str] = []
    seen = 0
    while seen < args.max_messages:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=min(10, args.max_messages - seen), WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            seen += 1
            try:
                letters = archive.record(message["Body"])
            except (CdpError, StreamRecordsGone) as exc:
                # Left in the queue: the operator decides (the alarm keeps showing it).
                unreadable.append(f"{message['MessageId']}: {exc}")
                continue
            recorded.extend(letter.event_id for letter in letters)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    json.dump({"recorded": recorded, "unreadable": unreadable}, out, indent=2)
    out.write("\n")
    return EXIT_INCOMPLETE if unreadable else EXIT_OK


def main(argv: Sequence[str] | None = None, *, session: Any = None, out: TextIO = sys.stdout) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # argparse already printed the reason
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    session = session or boto3.session.Session(region_name=args.region)
    try:
        return run(args, session, out)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
