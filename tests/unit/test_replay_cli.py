"""`python -m cdp_ops.replay`: argument handling and where resource names come from."""

from __future__ import annotations

import io
from typing import Any

import pytest

from cdp_ops import replay


def test_replay_defaults() -> None:
    args = replay.parse_args(["replay"])
    assert (args.command, args.stack, args.limit, args.dry_run, args.event_ids) == (
        "replay",
        "LineCdp",
        1000,
        False,
        None,
    )


def test_event_ids_repeat_and_dry_run() -> None:
    args = replay.parse_args(["replay", "--event-id", "partner#web#1", "--event-id", "line#default#2", "--dry-run"])
    assert args.event_ids == ["partner#web#1", "line#default#2"] and args.dry_run


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["unknown"],
        ["replay", "--limit", "0"],
        ["replay", "--limit", "many"],
        ["replay", "--limit", "100001"],
        ["replay", "--event-id", " "],
        ["replay", "--event-id", "a", "--limit", "5"],
        ["list", "--dry-run"],
        ["collect", "--event-id", "a"],
    ],
)
def test_bad_arguments_exit_2_without_touching_aws(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    class NoSession:
        def client(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("no AWS call on bad arguments")

    assert replay.main(argv, session=NoSession(), out=io.StringIO()) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.main(["replay", "--help"], session=object(), out=io.StringIO()) == 0
    assert "--dry-run" in capsys.readouterr().out


def outputs_of(found: dict[str, str], calls: list[str]) -> Any:
    def read(stack: str) -> dict[str, str]:
        calls.append(stack)
        return found

    return read


def test_names_come_from_the_stack_outputs_when_not_given() -> None:
    calls: list[str] = []
    args = replay.parse_args(["replay", "--stack", "ShopCdp", "--core-table", "core-x"])
    resources = replay.resolve_resources(
        args,
        outputs_of(
            {"CoreTableName": "core-from-stack", "RawEventsTableName": "raw-1", "EventProcessorFunctionName": "proc-1"},
            calls,
        ),
    )
    assert calls == ["ShopCdp"]
    assert (resources.core_table, resources.raw_events_table, resources.processor_function) == (
        "core-x",
        "raw-1",
        "proc-1",
    )


def test_stack_outputs_are_not_read_when_every_name_is_given() -> None:
    calls: list[str] = []
    args = replay.parse_args(["list", "--core-table", "core-x"])
    assert replay.resolve_resources(args, outputs_of({}, calls)).core_table == "core-x"
    assert calls == []


def test_a_name_missing_everywhere_is_a_usage_error_naming_the_flag() -> None:
    args = replay.parse_args(["collect", "--core-table", "core-x"])
    with pytest.raises(replay.UsageError, match="--queue-url"):
        replay.resolve_resources(args, outputs_of({"CoreTableName": "c"}, []))


def test_an_unreadable_stack_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    class Session:
        def client(self, service: str, endpoint_url: str | None = None) -> Any:
            assert service == "cloudformation"

            class CloudFormation:
                def describe_stacks(self, StackName: str) -> Any:
                    raise RuntimeError(f"Stack with id {StackName} does not exist")

            return CloudFormation()

    assert replay.main(["list"], session=Session(), out=io.StringIO()) == 2
    assert "LineCdp" in capsys.readouterr().err
