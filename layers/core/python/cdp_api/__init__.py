"""The HTTP layer: the admin API's routers, request models, error answers and OpenAPI document,
and the tracked-link redirect's request and answers (`cdp_api.redirect`).

It sits beside the domain library (`cdp`), which knows nothing of HTTP: the admin functions
(functions/admin_api, functions/admin_query) build their resolver from these routers, and each
handler is the one place that wires adapters (`cdp_api.context.AdminContext`, the redirect's `build`).
"""
