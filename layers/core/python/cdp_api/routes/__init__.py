"""The admin routers, grouped by the function that serves them (infra/cdp_infra/routes.py)."""
