"""Template benchmarks (part of `make bench`): what rendering costs per recipient, and what the first
template save costs a warm admin API.

1. recipients/s through `render_version` per channel (Liquid, tracked links minted on the fakes
   with a signed token per recipient, the LINE messages validated again as sent), for a Flex
   carousel of two bubbles and a text with quick replies, an email and a Chinese SMS;
2. the first save in a fresh interpreter: importing python-liquid and jsonschema and building the
   LINE validator (paid once per container, on the first template route that needs them), then
   each further save.

Wall-clock numbers are this machine's, in process, without I/O.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from tests.bench.run import ROOT

RECIPIENTS = 2000

FIRST_SAVE = """
import time
started = time.perf_counter()
from cdp.messaging.templates.model import parse_content
imported = time.perf_counter()
parse_content({"line": {"messages": [{"type": "text", "text": "Hi {{ traits.first_name | default: 'you' }}"}]}})
first = time.perf_counter()
for n in range(200):
    parse_content({"line": {"messages": [{"type": "text", "text": "Hi {{ traits.name%d | default: 'you' }}" % n}]}})
done = time.perf_counter()
print(round((imported - started) * 1000, 1), round((first - imported) * 1000, 1), round((done - first) * 1000 / 200, 3))
"""


def _content() -> dict[str, Any]:
    from tests.unit.test_template_line_schema import VALID

    return {
        "line": {
            "messages": [
                VALID["flex"],
                {
                    **{key: value for key, value in VALID["text"].items() if key != "emojis"},
                    "text": "Hi {{ traits.first_name }}, new in: https://shop.example.com/new",
                },
            ]
        },
        "email": {
            "subject": "Spring for {{ traits.first_name }}",
            "html": "<p>Hi {{ traits.first_name }}</p>"
            + "".join(f'<a href="https://shop.example.com/p/{n}">Item {n}</a>' for n in range(5)),
            "text": "Shop at https://shop.example.com/spring",
        },
        "sms": {"text": "{{ traits.first_name }}，春季新品上市 https://shop.example.com/spring"},
    }


def render_throughput(recipients: int = RECIPIENTS) -> dict[str, Any]:
    from cdp.messaging.templates.model import TemplateVersion, parse_content
    from cdp.messaging.templates.renderer import render_version

    from tests.fakes import FakeLinkStore
    from tests.unit.test_template_rendering import minter, person

    version = TemplateVersion("bench", 1, parse_content(_content()), "2026-05-01T00:00:00.000Z")
    results: dict[str, Any] = {}
    for channel in ("line", "email", "sms"):
        links = FakeLinkStore()
        mint = minter(links)
        people = [person(profile_id="p-amy", traits={"first_name": f"Amy {n}"}) for n in range(recipients)]
        render_version(version, channel, people[0], mint)  # compiled templates, the validator
        started = time.perf_counter()
        for context in people:
            rendered = render_version(version, channel, context, mint)
        elapsed = time.perf_counter() - started
        results[channel] = {
            "recipients": recipients,
            "recipients_per_s": round(recipients / elapsed),
            "us_per_recipient": round(elapsed * 1e6 / recipients),
            "links_per_recipient": len(rendered.link_codes),
            "links_created": len(links.links),
        }
    return results


def first_save() -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-c", FIRST_SAVE],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers" / "core" / "python"), "PATH": ""},
    ).stdout.split()
    return {"import_ms": float(output[0]), "first_save_ms": float(output[1]), "next_save_ms": float(output[2])}


def run_all(recipients: int = RECIPIENTS) -> dict[str, Any]:
    return {"render": render_throughput(recipients), "first_save": first_save()}


def summary(results: dict[str, Any]) -> list[str]:
    lines = [
        f"template render, {channel}: {r['recipients_per_s']} recipients/s ({r['us_per_recipient']} µs each, "
        f"{r['links_per_recipient']} tracked links)"
        for channel, r in results["render"].items()
    ]
    save = results["first_save"]
    lines.append(
        f"template save: model import {save['import_ms']} ms, first save (Liquid, jsonschema, LINE validator) "
        f"{save['first_save_ms']} ms, then {save['next_save_ms']} ms each"
    )
    return lines
