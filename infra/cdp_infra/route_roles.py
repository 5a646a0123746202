"""Writes cdp_api/route_roles.py, the admin functions' copy of each admin route's least role.

The functions cannot import infra/, so the role column of `routes.ROUTES` is rendered into the
core layer; tests/unit/test_route_roles.py fails when the two differ. Run after changing a role
or adding an admin route: `.venv/bin/python -m infra.cdp_infra.route_roles`.
"""

from __future__ import annotations

from pathlib import Path

from infra.cdp_infra.routes import ADMIN_API, ADMIN_QUERY, ROUTES

TARGET = Path(__file__).resolve().parents[2] / "layers" / "core" / "python" / "cdp_api" / "route_roles.py"

_HEADER = '''"""The least role of each admin route. Generated from infra/cdp_infra/routes.py by
`python -m infra.cdp_infra.route_roles`: change the roles there, then regenerate."""

from __future__ import annotations

from cdp.access.principal import Role

ROUTE_ROLES: dict[tuple[str, str], Role] = {
'''


def render() -> str:
    rows = [
        f'    ("{route.method}", "{route.path}"): "{route.role}",\n'
        for route in ROUTES
        if route.function in (ADMIN_API, ADMIN_QUERY)
    ]
    return _HEADER + "".join(rows) + "}\n"


def main() -> None:
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
