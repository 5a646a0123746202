"""What a deploy needs: the layers each function carries, new-account defaults, deploy settings from
cdk context reaching the functions, one API invoke permission per function, and refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cdp import settings

from infra import layer_build
from infra.cdp_infra import constants
from infra.cdp_infra.routes import (
    ADMIN_API,
    ADMIN_QUERY,
    ARCHIVE_COMPACTOR,
    ARCHIVE_WRITER,
    EVENT_PROCESSOR,
    HTTP_FUNCTIONS,
    MEMBER_IMPORT,
    RFM_SCORING,
    ROUTES,
    SEGMENT_RECOMPUTE,
)
from tests.infra.conftest import Synth
from tests.infra.test_stack import ALL_FUNCTIONS, _actions, _function, _function_id, _resources, _statements

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

# The functions that query the Parquet archive with DuckDB; every other function stays on the core layer.
ANALYTICS_FUNCTIONS = {ADMIN_QUERY, ARCHIVE_WRITER, SEGMENT_RECOMPUTE, RFM_SCORING, ARCHIVE_COMPACTOR}


def _layers(template: dict[str, Any]) -> dict[str, str]:
    """Layer logical id -> `core` or `analytics`, told apart by their descriptions."""
    return {
        key: "analytics" if layer["Properties"]["Description"].startswith("DuckDB") else "core"
        for key, layer in _resources(template, "AWS::Lambda::LayerVersion").items()
    }


# --- layers --------------------------------------------------------------------------------------


def test_two_layers_and_only_the_archive_readers_carry_duckdb(synth: Synth) -> None:
    t = synth.template
    kinds = _layers(t)
    assert sorted(kinds.values()) == ["analytics", "core"]
    for name in ALL_FUNCTIONS:
        carried = [kinds[ref["Ref"]] for ref in _function(t, name)["Layers"]]
        assert carried == (["core", "analytics"] if name in ANALYTICS_FUNCTIONS else ["core"]), name


def test_functions_on_the_core_layer_import_without_duckdb(synth: Synth) -> None:
    """Each core-only handler imports with DuckDB made unimportable, as in Lambda without the layer."""
    kinds = _layers(synth.template)
    core_only = [
        name
        for name in ALL_FUNCTIONS
        if [kinds[ref["Ref"]] for ref in _function(synth.template, name)["Layers"]] == ["core"]
    ]
    assert core_only
    script = textwrap.dedent(
        """
        import importlib.util, sys
        sys.modules["duckdb"] = None  # `import duckdb` now raises ImportError
        for name in sys.argv[1:]:
            spec = importlib.util.spec_from_file_location(f"handler_{name}", f"functions/{name}/handler.py")
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *core_only],
        cwd=constants.REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_deploy_refuses_layers_that_were_not_built_or_are_older_than_the_code(tmp_path: Path) -> None:
    from infra.cdp_infra.core_layer import LayerAssets, LayerNotBuilt

    with pytest.raises(LayerNotBuilt, match=r"the core layer is not built .*Run `make layer` first"):
        LayerAssets.built(tmp_path)
    for name in layer_build.LAYERS:
        (tmp_path / f"layer-{name}" / "python").mkdir(parents=True)
        layer_build.manifest_path(name, tmp_path).write_text(json.dumps({"fingerprint": "from older code"}))
    with pytest.raises(LayerNotBuilt, match="older than layers/core/python"):
        LayerAssets.built(tmp_path)
    current = layer_build.fingerprint()
    for name in layer_build.LAYERS:
        layer_build.manifest_path(name, tmp_path).write_text(json.dumps({"fingerprint": current}))
    assets = LayerAssets.built(tmp_path)
    assert (assets.core, assets.analytics) == (tmp_path / "layer-core", tmp_path / "layer-analytics")
    assert assets.built_for_lambda


def test_the_deploy_entry_point_refuses_without_built_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from infra import app

    monkeypatch.setattr(layer_build, "BUILD_DIR", tmp_path / "empty")
    monkeypatch.delenv("CDK_OUTDIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert app.main() == 1
    assert not (tmp_path / "cdk.out").exists()


# --- new-account defaults ------------------------------------------------------------------------


def test_defaults_reserve_no_concurrency_and_stay_within_3008_mb(synth: Synth) -> None:
    for name in ALL_FUNCTIONS:
        function = _function(synth.template, name)
        assert "ReservedConcurrentExecutions" not in function, name
        assert function.get("MemorySize", 128) <= 3008, name


# --- one invoke permission per function ----------------------------------------------------------


def test_the_api_holds_one_invoke_permission_per_function(synth: Synth) -> None:
    t = synth.template
    permissions = [
        p["Properties"]
        for p in _resources(t, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    served = {route.function for route in ROUTES}
    assert served <= set(HTTP_FUNCTIONS)
    by_function = {}
    for permission in permissions:
        by_function.setdefault(permission["FunctionName"]["Fn::GetAtt"][0], []).append(permission)
    assert {key: len(value) for key, value in by_function.items()} == {_function_id(t, name): 1 for name in served}
    # Scoped to this API (any stage, method and path), not to one route.
    api_id = next(iter(_resources(t, "AWS::ApiGateway::RestApi")))
    for permission in permissions:
        source = json.dumps(permission["SourceArn"])
        assert api_id in source and source.endswith('"/*/*/*"]]}'), source


# --- deploy settings from cdk context ------------------------------------------------------------

OVERRIDES = {
    "region": "ap-southeast-1",
    "defaultPhoneRegion": "TH",
    "rawEventTtlDays": "14",
    "linkBaseUrl": "https://go.example.com",
    "scheduleTimeZone": "Asia/Bangkok",
    "archiveJobMemoryMb": "8192",
    "segmentRecomputeReservedConcurrency": "5",
    "rfmScoringReservedConcurrency": "1",
    "archiveCompactorReservedConcurrency": "1",
}


@pytest.fixture(scope="module")
def overridden(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A synth with every setting given as `-c key=value` would (strings), and an account."""
    from infra.cdp_infra.app_factory import build_app
    from infra.cdp_infra.core_layer import LayerAssets

    outdir = tmp_path_factory.mktemp("cdk.out.settings")
    app = build_app(layers=LayerAssets.code_only(), account="111122223333", context=OVERRIDES, outdir=str(outdir))
    assembly = app.synth()
    stack = assembly.get_stack_by_name(constants.STACK_NAME)
    assert (stack.environment.account, stack.environment.region) == ("111122223333", "ap-southeast-1")
    template: dict[str, Any] = stack.template
    return template


def test_settings_reach_the_functions_through_their_environment(overridden: dict[str, Any]) -> None:
    for name in ALL_FUNCTIONS:
        variables = _function(overridden, name)["Environment"]["Variables"]
        if settings.ENV_RAW_EVENT_TTL_DAYS in variables:
            assert variables[settings.ENV_RAW_EVENT_TTL_DAYS] == "14", name
        if settings.ENV_DEFAULT_PHONE_REGION in variables:
            assert variables[settings.ENV_DEFAULT_PHONE_REGION] == "TH", name
    for name in (EVENT_PROCESSOR, MEMBER_IMPORT, ADMIN_API):
        assert _function(overridden, name)["Environment"]["Variables"][settings.ENV_DEFAULT_PHONE_REGION] == "TH"
    admin = _function(overridden, ADMIN_API)["Environment"]["Variables"]
    assert admin[settings.ENV_LINK_BASE_URL] == "https://go.example.com"
    assert admin[settings.ENV_RAW_EVENT_TTL_DAYS] == "14"


def test_sizes_concurrency_and_time_zone_follow_the_settings(overridden: dict[str, Any]) -> None:
    expected = {SEGMENT_RECOMPUTE: 5, RFM_SCORING: 1, ARCHIVE_COMPACTOR: 1}
    for name in ALL_FUNCTIONS:
        function = _function(overridden, name)
        assert function.get("ReservedConcurrentExecutions") == expected.get(name), name
        if name in expected:
            assert function["MemorySize"] == 8192
    zones = {
        s["Properties"]["ScheduleExpressionTimezone"]
        for s in _resources(overridden, "AWS::Scheduler::Schedule").values()
    }
    assert zones == {"Asia/Bangkok"}


def test_a_setting_that_cannot_work_refuses_the_synth() -> None:
    from infra.cdp_infra.app_factory import build_app
    from infra.cdp_infra.core_layer import LayerAssets
    from infra.cdp_infra.deploy_settings import DeploySettingsError

    with pytest.raises(DeploySettingsError, match="defaultPhoneRegion: 'XX'"):
        build_app(layers=LayerAssets.code_only(), context={"defaultPhoneRegion": "XX"})
    with pytest.raises(DeploySettingsError, match="scheduleTimeZone: 'Taipei'"):
        build_app(layers=LayerAssets.code_only(), context={"scheduleTimeZone": "Taipei"})


# --- schedules -----------------------------------------------------------------------------------


def test_the_daily_jobs_live_apart_from_the_segment_schedules_the_admin_api_manages(synth: Synth) -> None:
    """Schedule names are unique per group: a segment with the id `rfm-daily` must neither collide
    with the RFM job nor let the admin API update or delete it."""
    t = synth.template
    groups = {g["Properties"]["Name"]: key for key, g in _resources(t, "AWS::Scheduler::ScheduleGroup").items()}
    schedules = [s["Properties"] for s in _resources(t, "AWS::Scheduler::Schedule").values()]
    jobs = [s for s in schedules if s["GroupName"] != "LineCdp-journeys"]
    assert {s["Name"] for s in jobs} == {"rfm-daily", "archive-compaction", "archive-snapshot"}
    assert {s["GroupName"] for s in jobs} == {"LineCdp-jobs"}
    # The journeys' daily sweep: in their group, outside the `journey-*` names the admin API manages.
    assert [s["Name"] for s in schedules if s["GroupName"] == "LineCdp-journeys"] == ["retire-superseded-versions"]
    admin = json.dumps([s for s in _statements(t, ADMIN_API) if any(a.startswith("scheduler:") for a in _actions(s))])
    assert "schedule/LineCdp-segments/*" in admin
    assert "LineCdp-jobs" not in admin
    assert set(groups) == {"LineCdp-jobs", "LineCdp-segments", "LineCdp-messages", "LineCdp-journeys"}
    # Held-send releases belong to the message sender only; the admin API manages campaign schedules
    # (`campaign-<id>`) in the same group, by name.
    assert "LineCdp-messages/msg-release-" not in admin and "LineCdp-messages/*" not in admin
    assert "schedule/LineCdp-messages/campaign-*" in admin
    variables = _function(t, ADMIN_API)["Environment"]["Variables"]
    assert variables[settings.ENV_SEGMENT_SCHEDULE_GROUP] == "LineCdp-segments"
