"""The admin API's HTTP layer: routers, request models, error answers and the OpenAPI document.

It sits beside the domain library (`cdp`), which knows nothing of HTTP: the admin functions
(functions/admin_api, functions/admin_query) build their resolver from these routers, and their
handler is the one place that wires adapters (`cdp_api.context.AdminContext`).
"""
