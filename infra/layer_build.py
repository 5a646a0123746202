"""Builds and checks the Lambda layers: `make layer` (build) and `make layer-check` (resolve only).

Two layers, declared in pyproject.toml so that the dev install and the layers cannot disagree:

- `core`: the `cdp` and `cdp_api` packages and `[project] dependencies`; every function carries it.
- `analytics`: the `analytics` extra (DuckDB); only the functions that query the Parquet archive
  add it (infra: `FunctionFactory.create(..., analytics=True)`).

The target is the python3.11 Lambda runtime on arm64: Amazon Linux 2, glibc 2.26. A manylinux
wheel is loadable there when its tag's glibc is at most 2.26, so every tag from manylinux2014
(= manylinux_2_17) up to manylinux_2_26 is accepted. pip does not widen a `manylinux_2_26`
`--platform` to the older tags by itself, hence the explicit list; manylinux_2_27 and later
(e.g. `manylinux_2_28`) are left out on purpose: their binaries need a newer glibc than the
runtime has and fail at import. The build also reads the glibc and libstdc++ symbol versions each
shared object needs (with `readelf`, when installed), so a wheel tagged too optimistically is
caught too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = REPO_ROOT / "pyproject.toml"
CONSTRAINTS = REPO_ROOT / "constraints.txt"
CDP_SOURCE = REPO_ROOT / "layers" / "core" / "python" / "cdp"
# The packages the core layer ships: the domain library and the admin API's HTTP layer beside it.
PACKAGE_SOURCES = (CDP_SOURCE, CDP_SOURCE.parent / "cdp_api")
BUILD_DIR = REPO_ROOT / ".build"

CORE = "core"
ANALYTICS = "analytics"
LAYERS = (CORE, ANALYTICS)

PYTHON_VERSION = "3.11"
ARCH = "aarch64"
RUNTIME_GLIBC = (2, 26)  # Amazon Linux 2, the python3.11 runtime's OS
RUNTIME_GLIBCXX = (3, 4, 24)  # its libstdc++ (GCC 7)
PLATFORMS = (
    f"manylinux2014_{ARCH}",
    *(f"manylinux_2_{minor}_{ARCH}" for minor in range(17, RUNTIME_GLIBC[1] + 1)),
)
# The AWS SDK comes with the Lambda runtime; a copy in a layer would shadow it (a different botocore
# than the one the runtime's boto3 was tested with), so no layer may ship one.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
# The unzipped size AWS allows for a function and all its layers together.
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024

_EXCLUDED_NAMES = ("__pycache__", "*.pyc", "*.egg-info")


class LayerBuildError(RuntimeError):
    """The layers cannot be built for the Lambda runtime: say what and stop."""


def layer_dir(name: str, build_dir: Path = BUILD_DIR) -> Path:
    return build_dir / f"layer-{name}"


def manifest_path(name: str, build_dir: Path = BUILD_DIR) -> Path:
    return build_dir / f"layer-{name}.json"


def requirements(pyproject: Path = PYPROJECT) -> dict[str, list[str]]:
    """Each layer's requirements, as pyproject.toml declares them."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    if ANALYTICS not in extras:
        raise LayerBuildError(f"pyproject.toml declares no `{ANALYTICS}` extra")
    return {CORE: list(project["dependencies"]), ANALYTICS: list(extras[ANALYTICS])}


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise LayerBuildError(f"cannot read a package name from {requirement!r}")
    return canonical_name(match.group(1))


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def fingerprint(
    sources: tuple[Path, ...] = PACKAGE_SOURCES, pyproject: Path = PYPROJECT, constraints: Path = CONSTRAINTS
) -> str:
    """What the built layers were made from: the packages' code, the requirements and the pins."""
    digest = hashlib.sha256()
    for source in sources:
        for path in sorted(p for p in source.rglob("*") if p.is_file() and not _excluded(p)):
            digest.update(f"{source.name}/{path.relative_to(source)}".encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps(requirements(pyproject), sort_keys=True).encode())
    digest.update(constraints.read_bytes())
    return digest.hexdigest()


def stale_reason(build_dir: Path = BUILD_DIR) -> str | None:
    """Why the built layers cannot be deployed (missing, incomplete or older than the code), or None."""
    current = fingerprint()
    for name in LAYERS:
        directory, manifest = layer_dir(name, build_dir), manifest_path(name, build_dir)
        if not directory.is_dir() or not manifest.is_file():
            return f"the {name} layer is not built ({_shown(directory)} is missing)"
        if json.loads(manifest.read_text(encoding="utf-8")).get("fingerprint") != current:
            return (
                f"the {name} layer is older than layers/core/python (cdp, cdp_api), pyproject.toml or constraints.txt"
            )
    return None


# --- resolution ----------------------------------------------------------------------------------


def pip_install_args(target: Path, reqs: Sequence[str]) -> list[str]:
    args = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-q"]
    args += ["--target", str(target), "-c", str(CONSTRAINTS), "--only-binary=:all:"]
    args += ["--implementation", "cp", "--python-version", PYTHON_VERSION]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return [*args, *reqs]


@dataclass(frozen=True, slots=True)
class Resolved:
    name: str
    version: str
    wheel: str


def resolve(reqs: Sequence[str]) -> list[Resolved]:
    """What pip would install for the runtime (arm64, cp311, glibc 2.26), without installing it."""
    with tempfile.TemporaryDirectory(prefix="cdp-layer-check-") as tmp:
        report = Path(tmp) / "report.json"
        args = pip_install_args(Path(tmp) / "target", reqs)
        args[args.index("install") + 1 : args.index("install") + 1] = ["--dry-run", "--ignore-installed"]
        args[-len(reqs) : -len(reqs)] = ["--report", str(report)]
        _run(args, what=f"resolving {', '.join(reqs)} for python{PYTHON_VERSION} arm64")
        data = json.loads(report.read_text(encoding="utf-8"))
    return [
        Resolved(
            name=canonical_name(item["metadata"]["name"]),
            version=item["metadata"]["version"],
            wheel=item["download_info"]["url"].rsplit("/", 1)[-1].split("#", 1)[0],
        )
        for item in data["install"]
    ]


def check_wheel_tags(resolved: Iterable[Resolved]) -> None:
    """Every wheel is pure Python or built for cp311 on aarch64 at glibc <= 2.26."""
    from packaging.utils import parse_wheel_filename

    accepted = set(PLATFORMS) | {"any"}
    for item in resolved:
        _, _, _, tags = parse_wheel_filename(item.wheel)
        if not any(tag.platform in accepted for tag in tags):
            raise LayerBuildError(f"{item.wheel} does not run on the python{PYTHON_VERSION} arm64 runtime")


def check_layers(reqs: Mapping[str, Sequence[str]]) -> dict[str, list[Resolved]]:
    """Resolve every layer for the runtime and check that no package ships in two layers."""
    resolved = {name: resolve(layer_reqs) for name, layer_reqs in reqs.items()}
    seen: dict[str, str] = {}
    for name, items in resolved.items():
        check_wheel_tags(items)
        for item in items:
            if item.name in RUNTIME_PROVIDED:
                raise LayerBuildError(f"{item.name} would shadow the runtime's copy ({name} layer)")
            if item.name in seen:
                raise LayerBuildError(f"{item.name} would ship in both the {seen[item.name]} and {name} layers")
            seen[item.name] = name
    return resolved


# --- imports: every third-party module the code imports is declared ------------------------------


def undeclared_imports(reqs: Mapping[str, Sequence[str]], sources: Iterable[Path]) -> dict[str, set[str]]:
    """Third-party top-level modules imported by `sources` that no layer (nor the runtime) provides,
    mapped to the files importing them. Reads the dev environment's installed distributions."""
    import ast
    from importlib.metadata import packages_distributions

    declared = {requirement_name(r) for layer_reqs in reqs.values() for r in layer_reqs} | RUNTIME_PROVIDED
    module_owners = {module: {canonical_name(d) for d in dists} for module, dists in packages_distributions().items()}
    missing: dict[str, set[str]] = {}
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".", 1)[0]
                if top in sys.stdlib_module_names or top in {"cdp", "cdp_api", "__future__"}:
                    continue
                owners = module_owners.get(top, {canonical_name(top)})
                if not owners & declared:
                    missing.setdefault(top, set()).add(str(path.relative_to(REPO_ROOT)))
    return missing


def runtime_sources() -> list[Path]:
    """The code that runs in Lambda: the layer's packages and every function's entry point."""
    packages = [path for source in PACKAGE_SOURCES for path in sorted(source.rglob("*.py"))]
    return packages + sorted((REPO_ROOT / "functions").glob("*/*.py"))


# --- build ---------------------------------------------------------------------------------------


def build(build_dir: Path = BUILD_DIR) -> dict[str, int]:
    """Build .build/layer-core and .build/layer-analytics; returns their unzipped sizes in bytes."""
    reqs = requirements()
    check_layers(reqs)
    sizes: dict[str, int] = {}
    current = fingerprint()
    for name, layer_reqs in reqs.items():
        directory, manifest = layer_dir(name, build_dir), manifest_path(name, build_dir)
        manifest.unlink(missing_ok=True)  # an interrupted build leaves no manifest: not deployable
        shutil.rmtree(directory, ignore_errors=True)
        site = directory / "python"
        _run(pip_install_args(site, layer_reqs), what=f"installing the {name} layer")
        if name == CORE:
            for source in PACKAGE_SOURCES:
                shutil.copytree(source, site / source.name, ignore=shutil.ignore_patterns(*_EXCLUDED_NAMES))
        shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: not callable in Lambda
        for cache in list(site.rglob("__pycache__")):
            shutil.rmtree(cache)
        check_shared_objects(site)
        sizes[name] = tree_size(directory)
        packages = sorted(
            p.name.removesuffix(".dist-info") for p in site.glob("*.dist-info") if p.name.endswith(".dist-info")
        )
        manifest.write_text(
            json.dumps(
                {"fingerprint": current, "platforms": list(PLATFORMS), "packages": packages, "bytes": sizes[name]},
                indent=2,
            ),
            encoding="utf-8",
        )
    return sizes


def check_shared_objects(site: Path) -> None:
    """No shared object needs a newer glibc or libstdc++ than the runtime's (needs `readelf`)."""
    readelf = shutil.which("readelf")
    if readelf is None:
        print("readelf not found: shared objects not checked against glibc 2.26", file=sys.stderr)
        return
    for path in site.rglob("*.so*"):
        if not path.is_file():
            continue
        needs = subprocess.run(  # noqa: S603 (fixed tool, a file of our own build)
            [readelf, "-V", "--wide", str(path)], capture_output=True, text=True, check=False
        ).stdout
        for label, limit in (("GLIBC", RUNTIME_GLIBC), ("GLIBCXX", RUNTIME_GLIBCXX)):
            for version in re.findall(rf"\b{label}_([0-9.]+)\b", needs):
                if tuple(int(part) for part in version.split(".")) > limit:
                    wanted = ".".join(map(str, limit))
                    raise LayerBuildError(
                        f"{path.relative_to(site)} needs {label}_{version}; the runtime has {label} {wanted}"
                    )


def tree_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and not p.is_symlink())


def function_sizes(
    layers_by_function: Mapping[str, Sequence[str]], build_dir: Path = BUILD_DIR
) -> dict[str, tuple[int, int]]:
    """Per function: (its own code, code plus its layers) in bytes, unzipped."""
    layer_bytes = {name: tree_size(layer_dir(name, build_dir)) for name in LAYERS}
    sizes = {}
    for function, layer_names in sorted(layers_by_function.items()):
        own = tree_size(REPO_ROOT / "functions" / function)
        sizes[function] = (own, own + sum(layer_bytes[name] for name in layer_names))
    return sizes


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _excluded(path: Path) -> bool:
    return any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts) or path.suffix == ".pyc"


def _run(args: Sequence[str], *, what: str) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(args, capture_output=True, text=True, check=False, env=env)  # noqa: S603
    if result.returncode != 0:
        output = "\n".join(
            line for line in (result.stderr + result.stdout).splitlines() if not line.startswith("WARNING: Location")
        )
        raise LayerBuildError(f"{what} failed:\n{output.strip()}")


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.1f} KiB"


def _layers_by_function() -> dict[str, list[str]]:
    """Which layers each function carries, read from the synthesized (code-only) stack."""
    from infra.cdp_infra.app_factory import function_layers

    return function_layers()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("command", choices=["build", "check", "sizes"])
    args = parser.parse_args(argv)
    try:
        reqs = requirements()
        if args.command in ("check", "build"):
            missing = undeclared_imports(reqs, runtime_sources())
            if missing:
                lines = [f"  {module}: {', '.join(sorted(files))}" for module, files in sorted(missing.items())]
                raise LayerBuildError("imported but in no layer (pyproject.toml):\n" + "\n".join(lines))
        if args.command == "check":
            for name, items in check_layers(reqs).items():
                print(f"{name} layer resolves for python{PYTHON_VERSION} arm64 (glibc <= 2.26): ", end="")
                print(", ".join(f"{item.name} {item.version}" for item in items))
            return 0
        if args.command == "build":
            for name, size in build().items():
                print(f"{_shown(layer_dir(name))}: {_mib(size)} unzipped")
        too_large = []
        for function, (own, total) in function_sizes(_layers_by_function()).items():
            print(f"  {function:<18} {_mib(own):>10} code, {_mib(total):>10} with its layers")
            if total > LAMBDA_UNZIPPED_LIMIT:
                too_large.append(function)
        if too_large:
            raise LayerBuildError(f"over Lambda's 250 MB unzipped limit with their layers: {', '.join(too_large)}")
    except LayerBuildError as exc:
        print(f"layer: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
