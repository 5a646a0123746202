"""The admin API's OpenAPI document (both admin functions' routes) and a Swagger UI page.

Generated from the routers and their pydantic models on first request (not at cold start), so
the CRUD function's import stays small."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp_api.docs import ok

router = Router()  # type: ignore[no-untyped-call]
OPENAPI_PATH = "/admin/v1/openapi.json"
DOCS_PATH = "/admin/v1/docs"


@functools.cache
def openapi_document() -> str:
    from cdp_api.openapi import admin_openapi

    return json.dumps(admin_openapi(), ensure_ascii=False, separators=(",", ":"))


@router.get(OPENAPI_PATH, responses=ok(200, "The OpenAPI 3.1 document of the admin API", "OpenAPIDocument"))
def get_openapi():  # type: ignore[no-untyped-def]  # a built Response: no annotation, or powertools documents a string
    """This document: every admin route, its request and response schemas and error answers."""
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())


@router.get(
    DOCS_PATH,
    responses={200: {"description": "Swagger UI", "content": {"text/html": {"schema": {"type": "string"}}}}},
)
def get_docs():  # type: ignore[no-untyped-def]  # a built Response: no annotation, or powertools documents a string
    """Swagger UI over this document (its assets are inlined: it works offline)."""
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import html as swagger_html

    assets = Path(swagger_html.__file__).parent
    page = swagger_html.generate_swagger_html(
        openapi_document().replace("</", "<\\/"),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
        persist_authorization=False,  # the admin token never stays in the browser's storage
    )
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=page)
