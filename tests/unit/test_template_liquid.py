"""Liquid personalisation: what is refused when a template is saved, and what fails one recipient
(and only them) when it is rendered."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.messaging.content import RenderContext, RenderError
from cdp.messaging.templates.personalise import NAMESPACE, check, data_of, render


def context(**changes: Any) -> RenderContext:
    values: dict[str, Any] = {
        "profile_id": "p-amy",
        "traits": {"first_name": "Amy", "city": "台北", "tier": None},
        "computed": {"lifetime_value": 12800, "rfm_segment": "champions"},
        "tags": ["vip", "asked:size"],
        "event": {"items": [{"name": "Bike", "price": 32000}], "cart_total": 32000},
    }
    return RenderContext(**{**values, **changes})


def rendered(source: str, **changes: Any) -> str:
    return render(source, data_of(context(**changes)))


@pytest.mark.parametrize(
    ("source", "reason", "needle"),
    [
        ("Hi {{ traits.first_name ", "liquid_syntax", "Liquid"),
        ("{% if traits.vip %}VIP", "liquid_syntax", "Liquid"),
        ("{{ traits.first_name | shout }}", "unknown_filter", "`shout`"),
        ("{{ traits.first_name | upcase | shout: 2 }}", "unknown_filter", "`shout`"),
        ("Hi {{ first_name }}", "unknown_variable", "`first_name`"),
        ("{% for item in cart.items %}{{ item }}{% endfor %}", "unknown_variable", "`cart`"),
        ("{% include 'footer' %}", "liquid_syntax", "include"),
        ("{% render 'footer' %}", "liquid_syntax", "render"),
    ],
)
def test_save_time_refusals(source: str, reason: str, needle: str) -> None:
    found = check(source)
    assert found is not None and found.reason == reason and needle in found.message


@pytest.mark.parametrize(
    "source",
    [
        "plain text, no markup",
        "Hi {{ traits.first_name | default: 'there' }}",
        "{% if tags contains 'vip' %}VIP {% endif %}{{ computed.rfm_segment }}",
        "{% for item in event.items %}{{ item.name }} NT${{ item.price }}{% endfor %}",
        "{% assign total = event.cart_total | plus: 100 %}{{ total }} {{ profile.id }}",
    ],
)
def test_templates_over_the_namespace_are_accepted(source: str) -> None:
    assert check(source) is None


def test_the_namespace_is_the_documented_one() -> None:
    assert NAMESPACE == ("profile", "traits", "computed", "tags", "event")
    assert set(data_of(context())) == set(NAMESPACE)


def test_rendering_reads_traits_computed_tags_and_the_event() -> None:
    source = (
        "{{ traits.first_name }} in {{ traits.city }}: {{ computed.rfm_segment }}"
        "{% if tags contains 'vip' %}, VIP{% endif %}; {{ event.items[0].name }} NT${{ event.cart_total }}"
    )
    assert rendered(source) == "Amy in 台北: champions, VIP; Bike NT$32000"
    assert rendered("{{ profile.id }}") == "p-amy"


def test_missing_data_fails_this_recipient_unless_defaulted() -> None:
    with pytest.raises(RenderError) as failed:
        rendered("Hi {{ traits.nickname }}")
    assert failed.value.reason == "missing_data" and "traits.nickname" in str(failed.value)
    assert rendered("Hi {{ traits.nickname | default: 'friend' }}") == "Hi friend"
    assert rendered("Hi {{ traits.tier | default: 'member' }}") == "Hi member"  # null takes the default too
    assert rendered("{% if traits.nickname %}x{% else %}no nickname{% endif %}") == "no nickname"
    with pytest.raises(RenderError):
        rendered("{{ event.items[0].name }}", event=None)  # a campaign has no triggering event
    with pytest.raises(RenderError) as failed:
        rendered("{{ event.items[3].name }}")
    assert failed.value.reason in ("missing_data", "render_failed")


def test_one_recipient_failing_does_not_change_the_next() -> None:
    source = "Hi {{ traits.first_name }}"
    results: list[str] = []
    for traits in ({"first_name": "Amy"}, {}, {"first_name": "Ben"}):
        try:
            results.append(rendered(source, traits=traits))
        except RenderError as exc:
            results.append(exc.reason)
    assert results == ["Hi Amy", "missing_data", "Hi Ben"]


def test_rendering_is_bounded_and_reads_no_files() -> None:
    with pytest.raises(RenderError) as failed:
        rendered("{% for i in (1..100000) %}x{% endfor %}")
    assert failed.value.reason == "render_failed"
    with pytest.raises(RenderError):
        rendered("{{ 10 | divided_by: 0 }}")


def test_html_is_escaped_where_the_template_writes_person_data() -> None:
    data = data_of(context(traits={"first_name": "<script>x</script> & co"}))
    assert render("<p>Hi {{ traits.first_name }}</p>", data, autoescape=True) == (
        "<p>Hi &lt;script&gt;x&lt;/script&gt; &amp; co</p>"
    )
    assert render("Hi {{ traits.first_name }}", data) == "Hi <script>x</script> & co"
