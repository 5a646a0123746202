"""A segment rule as Athena SQL: `python -m cdp_ops.athena_sql RULE.json [--now ...] [--run]`.

    python -m cdp_ops.athena_sql rule.json                  # print the query (Trino dialect)
    python -m cdp_ops.athena_sql rule.json --now 2026-11-23T05:30:00Z
    python -m cdp_ops.athena_sql rule.json --memberships-table segment_members
    python -m cdp_ops.athena_sql rule.json --run            # run it in the archive's workgroup

RULE.json is a rule as the admin API takes it (`-` reads standard input); it is validated by the
same parser. The query reads the Glue tables of the archive's change files (database
`cdp_archive`) and prints or returns the ids of the live profiles the rule selects at `--now`
(default: the clock's now). `--run` starts it in the workgroup (stack output
ArchiveAthenaWorkgroup unless `--workgroup`) and prints the profile ids, one a line; Athena bills
the bytes the query scans (docs/segments-and-archive.md, "Athena").

`in_segment` reads memberships from `--memberships-table` (columns segment_id, profile_id in the
same database) or, without it, `--memberships FILE` (JSON [[segment_id, profile_id], ...]);
neither means no memberships. Exit status 0 on success, 1 when the query failed, 2 on bad
arguments or a rule the parser refuses (its error printed as JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cdp.adapters.athena import AthenaWarehouse
from cdp.clock import SystemClock
from cdp.errors import CdpError
from cdp.segments import parse_rule
from cdp.segments.athena import MembershipTable, select_profile_ids, to_athena

DEFAULT_STACK = "LineCdp"
DEFAULT_DATABASE = "cdp_archive"  # infra/cdp_infra/constants.py ARCHIVE_DATABASE
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cdp_ops.athena_sql", description=__doc__.split("\n\n")[0])
    parser.add_argument("rule", help="the rule as JSON, a file name or - for standard input")
    parser.add_argument("--now", help="evaluation time, ISO-8601 with a zone (default: now)")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="Glue database of the archive")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--memberships-table", help="table (segment_id, profile_id) that in_segment reads")
    group.add_argument("--memberships", help="JSON file of [segment_id, profile_id] pairs, inlined as VALUES")
    parser.add_argument("--run", action="store_true", help="run the query on Athena and print the profile ids")
    parser.add_argument("--workgroup", help="Athena workgroup (default: stack output ArchiveAthenaWorkgroup)")
    parser.add_argument("--stack", default=DEFAULT_STACK, help="CloudFormation stack to read the workgroup from")
    parser.add_argument("--region", help="AWS region")
    parser.add_argument("--endpoint-url", help="AWS endpoint")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the query")
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO = sys.stdout, session: Any = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rule = parse_rule(_load_json(args.rule))
        now = _now(args.now)
        memberships: Any = ()
        if args.memberships_table:
            memberships = MembershipTable(args.database, args.memberships_table)
        elif args.memberships:
            memberships = [(str(s), str(p)) for s, p in _load_json(Path(args.memberships).read_text(encoding="utf-8"))]
        query = to_athena(rule, now, database=args.database, memberships=memberships)
    except CdpError as exc:
        out.write(json.dumps({"error": exc.code, "message": str(exc), "details": exc.details}) + "\n")
        return EXIT_USAGE
    except (ValueError, OSError, TypeError) as exc:
        out.write(json.dumps({"error": "invalid_argument", "message": str(exc)}) + "\n")
        return EXIT_USAGE
    if not args.run:
        out.write(query.sql + "\n")
        return EXIT_OK
    if session is None:
        import boto3

        session = boto3.Session(region_name=args.region)
    workgroup = args.workgroup or _workgroup(session, args.stack, args.endpoint_url)
    if workgroup is None:
        out.write(json.dumps({"error": "missing_workgroup", "message": "pass --workgroup"}) + "\n")
        return EXIT_USAGE
    warehouse = AthenaWarehouse(
        session.client("athena", endpoint_url=args.endpoint_url),
        workgroup=workgroup,
        clock=SystemClock(),
        timeout_seconds=args.timeout,
    )
    try:
        ids = select_profile_ids(warehouse, query)
    except CdpError as exc:
        out.write(json.dumps({"error": exc.code, "message": str(exc), "details": exc.details}) + "\n")
        return EXIT_FAILED
    for profile_id in sorted(ids):
        out.write(profile_id + "\n")
    return EXIT_OK


def _load_json(text: str) -> Any:
    if text == "-":
        return json.load(sys.stdin)
    if not text.lstrip().startswith(("{", "[")):
        text = Path(text).read_text(encoding="utf-8")
    return json.loads(text)


def _now(text: str | None) -> datetime:
    if text is None:
        return SystemClock().now()
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("--now needs a zone, e.g. 2026-11-23T05:30:00Z")
    return moment.astimezone(UTC)


def _workgroup(session: Any, stack: str, endpoint_url: str | None) -> str | None:
    try:
        described = session.client("cloudformation", endpoint_url=endpoint_url).describe_stacks(StackName=stack)
    except Exception:  # no such stack, no credentials: the operator names the workgroup
        return None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
    return outputs.get("ArchiveAthenaWorkgroup")


if __name__ == "__main__":
    sys.exit(main())
