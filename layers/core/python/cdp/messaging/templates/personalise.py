"""Personalisation with Liquid (python-liquid), sandboxed, over one person's data.

What a template may read (its namespace, nothing else):

- `profile`: `profile.id`
- `traits`: the profile's traits (`traits.first_name`)
- `computed`: computed traits (`computed.lifetime_value`, `computed.rfm_segment`)
- `tags`: the list of tags (`{% if tags contains "vip" %}`)
- `event`: the triggering event's properties (`event.items[0].name`); empty for a campaign

At save time a template is parsed: a syntax error, an unknown filter, an unknown top-level name, or
a tag that reads other templates (`include`, `render`: there is no loader, nothing reads files)
is refused. At send time missing data is strict: `{{ traits.first_name }}` for a person without it
fails that person's render (`RenderError`), unless written `{{ traits.first_name | default: "there" }}`;
a missing value is false in `{% if %}`. Loops, output and nesting are bounded.

`liquid` is imported on first use, so a function that never renders does not pay for it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdp.messaging.content import RenderContext, RenderError

NAMESPACE = ("profile", "traits", "computed", "tags", "event")
FORBIDDEN_TAGS = ("include", "render")  # they read other templates: there are none, and no files
MAX_OUTPUT = 256 * 1024  # characters one field may render to
MAX_LOOP_ITERATIONS = 10_000
MAX_SOURCE = 100_000
MARKUP = ("{{", "{%")


@dataclass(frozen=True, slots=True)
class LiquidProblem:
    reason: str  # liquid_syntax, unknown_filter, unknown_variable
    message: str


def has_markup(text: str) -> bool:
    return any(marker in text for marker in MARKUP)


@functools.cache
def _environment(autoescape: bool) -> Any:
    from liquid import Environment, FalsyStrictUndefined

    class Missing(FalsyStrictUndefined):  # type: ignore[misc]
        """Strict when output, false in a condition, replaced by the `default` filter."""

        force_liquid_default = True

    class Sandboxed(Environment):  # type: ignore[misc]
        loop_iteration_limit = MAX_LOOP_ITERATIONS
        output_stream_limit = MAX_OUTPUT
        context_depth_limit = 30
        local_namespace_limit = 64 * 1024

    environment = Sandboxed(undefined=Missing, autoescape=autoescape)
    for tag in FORBIDDEN_TAGS:
        environment.tags.pop(tag, None)
    return environment


@functools.lru_cache(maxsize=2048)
def _compiled(source: str, autoescape: bool) -> Any:
    return _environment(autoescape).from_string(source)


def check(source: str, *, autoescape: bool = False) -> LiquidProblem | None:
    """Why `source` cannot be a template (syntax, filters, names), or None."""
    if not has_markup(source):
        return None
    from liquid.exceptions import LiquidError

    if len(source) > MAX_SOURCE:
        return LiquidProblem("liquid_syntax", f"a field is at most {MAX_SOURCE} characters")
    try:
        template = _compiled(source, autoescape)
    except (LiquidError, RecursionError) as exc:
        return LiquidProblem("liquid_syntax", f"Liquid: {_first_line(exc)}")
    known = _environment(autoescape).filters
    unknown_filters = sorted(name for name in template.filter_names() if name not in known)
    if unknown_filters:
        return LiquidProblem("unknown_filter", f"Liquid: unknown filter `{unknown_filters[0]}`")
    unknown = sorted(name for name in template.global_variables() if name not in NAMESPACE)
    if unknown:
        return LiquidProblem(
            "unknown_variable",
            f"Liquid: unknown name `{unknown[0]}`; a template reads " + ", ".join(f"`{n}`" for n in NAMESPACE),
        )
    return None


def data_of(context: RenderContext) -> dict[str, Any]:
    """The template's namespace for one person."""
    return {
        "profile": {"id": context.profile_id},
        "traits": _plain(context.traits),
        "computed": _plain(context.computed),
        "tags": list(context.tags),
        "event": _plain(context.event or {}),
    }


def render(source: str, data: Mapping[str, Any], *, autoescape: bool = False) -> str:
    """`source` rendered for one person; RenderError when their data cannot render it."""
    if not has_markup(source):
        return source
    from liquid.exceptions import LiquidError, UndefinedError

    try:
        return str(_compiled(source, autoescape).render(**data))
    except UndefinedError as exc:
        raise RenderError("missing_data", f"Liquid: {_first_line(exc)}") from exc
    except LiquidError as exc:
        raise RenderError("render_failed", f"Liquid: {_first_line(exc)}") from exc
    except (ArithmeticError, TypeError, ValueError, RecursionError) as exc:  # a filter given data of the wrong kind
        raise RenderError("render_failed", f"Liquid: {exc}") from exc


def _first_line(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message).splitlines()[0] if message else type(exc).__name__


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
