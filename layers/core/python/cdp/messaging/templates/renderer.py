"""Rendering a template version for one person on one channel: Liquid, tracked links, limits.

`TemplateRenderer` is the `Renderer` the send point calls (cdp.messaging.content). Versions are
immutable, so they are cached for the life of the container; "the newest version" is read again
after `latest_ttl_seconds`. A recipient whose data cannot render the template gets `RenderError`
(reason `missing_data`, `render_failed`, `invalid_link` or `invalid_content`) and nobody else is
affected; an unknown template, version or channel is a `LookupError`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from cdp.messaging.content import Channel, EmailContent, LinkMinter, RenderContext, RenderedContent, RenderError
from cdp.messaging.templates import personalise
from cdp.messaging.templates.line import line_problem
from cdp.messaging.templates.links import code_of, rewrite_html, rewrite_line, rewrite_text
from cdp.messaging.templates.model import STATUS_ARCHIVED, TemplateVersion
from cdp.messaging.templates.sms import sms_segments
from cdp.messaging.templates.store import TemplateStore


def render_version(
    template: TemplateVersion, channel: Channel, context: RenderContext, minter: LinkMinter | None
) -> RenderedContent:
    """One person's content on `channel`. Without a minter, URLs are left as they are (previews)."""
    content = template.content
    attributed = dataclasses.replace(
        context,
        link_attribution={
            **context.link_attribution,
            "template_id": template.template_id,
            "template_version": str(template.version),
            "channel": channel,
        },
    )
    codes: list[str] = []

    def mint(url: str) -> str:
        if minter is None:
            return url
        tracked = minter(url, attributed)
        code = code_of(tracked)
        if code is not None and code not in codes:
            codes.append(code)
        return tracked

    data = personalise.data_of(context)

    def result(**parts: Any) -> RenderedContent:
        return RenderedContent(
            template_id=template.template_id, template_version=template.version, channel=channel, **parts
        )

    if channel == "line" and content.line is not None:
        messages = _rendered_tree(copy.deepcopy(content.line), data)
        rewrite_line(messages, mint)
        problem = line_problem(messages, mode="rendered")
        if problem is not None:
            raise RenderError("invalid_content", f"/line/messages{problem.pointer}: {problem.reason}")
        return result(line_messages=messages, link_codes=codes)
    if channel == "email" and content.email is not None:
        email = content.email
        subject = " ".join(personalise.render(email.subject, data).split())
        if not subject:
            raise RenderError("invalid_content", "/email/subject: renders empty")
        html = rewrite_html(personalise.render(email.html, data, autoescape=True), mint) if email.html else None
        text = rewrite_text(personalise.render(email.text, data), mint)[0] if email.text else None
        if not (html or "").strip() and not (text or "").strip():
            raise RenderError("invalid_content", "/email: both bodies render empty")
        return result(email=EmailContent(subject=subject, html=html, text=text), link_codes=codes)
    if channel == "sms" and content.sms is not None:
        text = rewrite_text(personalise.render(content.sms, data), mint)[0]
        if not text.strip():
            raise RenderError("invalid_content", "/sms/text: renders empty")
        return result(sms_text=text, sms_segments=sms_segments(text), link_codes=codes)
    raise LookupError(f"template {template.template_id} version {template.version} has no {channel} content")


def _rendered_tree(node: Any, data: dict[str, Any]) -> Any:
    if isinstance(node, str):
        return personalise.render(node, data)
    if isinstance(node, dict):
        return {key: _rendered_tree(value, data) for key, value in node.items()}
    if isinstance(node, list):
        return [_rendered_tree(value, data) for value in node]
    return node


class TemplateRenderer:
    """`Renderer` over a template store, minting tracked links through `minter`."""

    def __init__(
        self,
        store: TemplateStore,
        minter: LinkMinter | None,
        *,
        latest_ttl_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._minter = minter
        self._ttl = latest_ttl_seconds
        self._monotonic = monotonic
        self._versions: dict[tuple[str, int], TemplateVersion] = {}
        self._latest: dict[str, tuple[int, float]] = {}

    def render(
        self, *, template_id: str, version: int | None, channel: Channel, context: RenderContext
    ) -> RenderedContent:
        number = self._newest(template_id) if version is None else version
        return render_version(self._version(template_id, number), channel, context, self._minter)

    def _newest(self, template_id: str) -> int:
        cached = self._latest.get(template_id)
        if cached is not None and self._monotonic() - cached[1] < self._ttl:
            return cached[0]
        template = self._store.get(template_id)
        if template is None:
            raise LookupError(f"no template {template_id}")
        if template.status == STATUS_ARCHIVED:
            raise LookupError(f"template {template_id} is archived; name a version to send it")
        self._latest[template_id] = (template.latest_version, self._monotonic())
        return template.latest_version

    def _version(self, template_id: str, number: int) -> TemplateVersion:
        key = (template_id, number)
        found = self._versions.get(key)
        if found is None:
            found = self._store.version(template_id, number)
            if found is None:
                raise LookupError(f"template {template_id} has no version {number}")
            if len(self._versions) >= 1024:
                self._versions.clear()
            self._versions[key] = found
        return found
