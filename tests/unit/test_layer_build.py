"""The layer build's rules, offline: which wheels load on the python3.11 arm64 runtime (glibc 2.26),
that the layers come from pyproject.toml, and that every third-party import is declared."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import layer_build
from infra.layer_build import LayerBuildError, Resolved


def _wheel(filename: str) -> Resolved:
    return Resolved(name="pkg", version="1", wheel=filename)


def test_platforms_cover_manylinux2014_to_2_26_and_nothing_newer() -> None:
    assert "manylinux2014_aarch64" in layer_build.PLATFORMS
    assert "manylinux_2_17_aarch64" in layer_build.PLATFORMS
    assert "manylinux_2_26_aarch64" in layer_build.PLATFORMS
    assert not any(p.startswith(("manylinux_2_27", "manylinux_2_28")) for p in layer_build.PLATFORMS)
    assert all(p.endswith("_aarch64") for p in layer_build.PLATFORMS)


@pytest.mark.parametrize(
    "wheel",
    [
        "duckdb-2.0.0-cp311-cp311-manylinux_2_26_aarch64.manylinux_2_28_aarch64.whl",
        "orjson-3.13.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "pydantic_core-2.50.4-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl",
        "segno-1.6.6-py3-none-any.whl",
    ],
)
def test_wheels_that_load_on_the_runtime_are_accepted(wheel: str) -> None:
    layer_build.check_wheel_tags([_wheel(wheel)])


@pytest.mark.parametrize(
    "wheel",
    [
        "fast-1.0-cp311-cp311-manylinux_2_28_aarch64.whl",  # needs glibc 2.28: fails at import on AL2
        "fast-1.0-cp311-cp311-manylinux2014_x86_64.whl",
        "fast-1.0-cp311-cp311-musllinux_1_2_aarch64.whl",
    ],
)
def test_wheels_that_would_fail_at_import_are_refused(wheel: str) -> None:
    with pytest.raises(LayerBuildError, match=r"does not run on the python3\.11 arm64 runtime"):
        layer_build.check_wheel_tags([_wheel(wheel)])


def test_layers_come_from_pyproject_dependencies_and_the_analytics_extra() -> None:
    reqs = layer_build.requirements()
    core = {layer_build.requirement_name(r) for r in reqs[layer_build.CORE]}
    analytics = {layer_build.requirement_name(r) for r in reqs[layer_build.ANALYTICS]}
    assert analytics == {"duckdb"}
    assert "duckdb" not in core and "pynamodb" not in core
    assert {"aws-lambda-powertools", "pydantic", "phonenumbers", "email-validator", "orjson", "segno"} <= core
    assert {"python-liquid", "jsonschema"} <= core  # message templates: Liquid and LINE's schemas
    assert not (core | analytics) & layer_build.RUNTIME_PROVIDED


def test_pip_is_asked_for_every_runtime_platform_and_binaries_only(tmp_path: Path) -> None:
    args = layer_build.pip_install_args(tmp_path, ["duckdb"])
    platforms = [args[i + 1] for i, arg in enumerate(args) if arg == "--platform"]
    assert platforms == list(layer_build.PLATFORMS)
    assert "--only-binary=:all:" in args
    assert args[args.index("--python-version") + 1] == "3.11"
    assert args[-1] == "duckdb"


def test_every_third_party_module_the_functions_import_is_declared() -> None:
    assert layer_build.undeclared_imports(layer_build.requirements(), layer_build.runtime_sources()) == {}


def test_an_undeclared_import_is_named_with_its_file() -> None:
    source = layer_build.REPO_ROOT / "layers" / "core" / "python" / "cdp" / "__init__.py"
    reqs = {layer_build.CORE: ["orjson"], layer_build.ANALYTICS: []}
    missing = layer_build.undeclared_imports(reqs, [source, *layer_build.runtime_sources()])
    assert "duckdb" in missing and "layers/core/python/cdp/archive/duck.py" in missing["duckdb"]
    assert "phonenumbers" in missing
    assert "orjson" not in missing and "boto3" not in missing and "botocore" not in missing


def test_the_fingerprint_follows_the_code(tmp_path: Path) -> None:
    source = tmp_path / "cdp"
    source.mkdir()
    (source / "a.py").write_text("x = 1\n")
    before = layer_build.fingerprint((source,))
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert layer_build.fingerprint((source,)) == before  # bytecode is not code
    (source / "a.py").write_text("x = 2\n")
    assert layer_build.fingerprint((source,)) != before


class _Readelf:
    def __init__(self, output: str) -> None:
        self.stdout = output


def test_a_shared_object_needing_a_newer_glibc_than_the_runtime_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fast.cpython-311-aarch64-linux-gnu.so").write_bytes(b"\x7fELF")
    monkeypatch.setattr(layer_build.shutil, "which", lambda _name: "/usr/bin/readelf")
    needs = "  0x0010: Name: GLIBC_2.17  Flags: none\n  0x0020: Name: GLIBCXX_3.4.22  Flags: none\n"
    monkeypatch.setattr(layer_build.subprocess, "run", lambda *_a, **_k: _Readelf(needs))
    layer_build.check_shared_objects(tmp_path)  # what duckdb 2.0.0's module needs: loads on AL2
    newer = needs + "  0x0030: Name: GLIBC_2.28  Flags: none\n"
    monkeypatch.setattr(layer_build.subprocess, "run", lambda *_a, **_k: _Readelf(newer))
    with pytest.raises(LayerBuildError, match=r"needs GLIBC_2\.28; the runtime has GLIBC 2\.26"):
        layer_build.check_shared_objects(tmp_path)
    cxx = needs + "  0x0040: Name: GLIBCXX_3.4.29  Flags: none\n"
    monkeypatch.setattr(layer_build.subprocess, "run", lambda *_a, **_k: _Readelf(cxx))
    with pytest.raises(LayerBuildError, match=r"needs GLIBCXX_3\.4\.29"):
        layer_build.check_shared_objects(tmp_path)
