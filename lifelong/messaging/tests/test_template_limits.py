"""Render limits hold inside one C call: every size is known before the value is built.

Each payload here used to build its value first (hundreds of megabytes, or a MemoryError,
or an hour of `sum`) and refuse it afterwards. Now it is refused before anything big
exists, which these tests see as a small peak of traced memory during the render.
"""

from __future__ import annotations

import tracemalloc

import hypothesis
import pytest
from django.urls import reverse
from django.utils import translation
from hypothesis import strategies as st

from lifelong.accounts.models import Role
from lifelong.messaging.models import Template
from lifelong.messaging.templating import (
    TemplateRenderError,
    fields_render,
    sample_context,
    template_validate,
)
from lifelong.messaging.templating.limits import MAX_VALUE, footprint
from lifelong.web.tests.conftest import logged_in, staff

pytestmark = pytest.mark.django_db

# Far below what any of the payloads builds when it is not refused in time.
PEAK_BYTES = 4_000_000


@pytest.fixture(autouse=True)
def _english(settings):
    # The assertions read the English messages; the Russian ones are the catalogue's job.
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _warm(frozen_time):
    # Compile the environment and load the dictionaries before memory is traced.
    fields_render(subject="", text="{{ customer|case('datv') }}", html="", context=sample_context())


def refusal(source: str) -> str:
    """The message a render of `source` is refused with; fails if the render built much."""
    tracemalloc.start()
    try:
        with pytest.raises(TemplateRenderError) as caught:
            fields_render(subject="", text=source, html="", context=sample_context())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{peak:,} bytes traced before the refusal"
    return caught.value.message


def rendered(source: str) -> str:
    return fields_render(subject="", text=source, html="", context=sample_context()).text


DATA_TOO_LONG = "data that prints as more than 100,000 characters"


@pytest.mark.parametrize(
    "source",
    [
        # The issue's own payloads.
        "{{ ['x'*100000]*10000 }}",
        "{{ [['x'*100000]*10000]*10000 }}",
        "{{ (['x'*100000]*10000)|tojson }}",
        "{{ ([[1]*10000]*10000)|sum(start=[])|length }}",
    ],
)
def test_reported_payloads_are_refused_before_they_are_built(source):
    assert "100,000" in refusal(source)


def test_list_repetition_then_print():
    assert refusal("{% set l = ['x' * 1000] * 10000 %}{{ l }}") == (
        f"The template builds {DATA_TOO_LONG}."
    )


def test_nested_repetition():
    source = "{% set l = ['x' * 100] * 100 %}{% set m = [l] * 100 %}{{ m|length }}"
    assert refusal(source) == f"The template builds {DATA_TOO_LONG}."
    assert refusal("{{ [[['x' * 100] * 100] * 100] * 100 }}") == (
        f"The template builds {DATA_TOO_LONG}."
    )


def test_nested_literals():
    source = (
        "{% set a = ['x' * 10000] %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
        "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{{ c|length }}"
    )
    assert refusal(source) == f"The template builds {DATA_TOO_LONG}."
    assert refusal("{% set a = {'k': 'x' * 60000} %}{{ [a, a]|length }}") == (
        f"The template builds {DATA_TOO_LONG}."
    )


def test_list_concatenation():
    source = "{% set l = ['x' * 1000] * 50 %}{% set m = l + l %}{{ m|length }}"
    assert refusal(source) == f"The template builds {DATA_TOO_LONG}."


def test_sum_over_repeated_lists():
    # The result has more items than a list may have: refused before adding up.
    assert refusal("{{ ([[1] * 3000] * 10)|sum(start=[])|length }}") == (
        "The template builds a list of 30,000 items; the limit is 10,000."
    )
    # Within the limits it adds up in one pass (Python's sum copies the list at each step).
    assert rendered("{{ ([[1]] * 10000)|sum(start=[])|length }}") == "10000"
    assert rendered("{{ [[1, 2], [3]]|sum(start=[]) }}|{{ [1, 2.5]|sum }}") == "[1, 2, 3]|3.5"
    assert "sum" in refusal("{{ [[1], 'ab']|sum(start=[]) }}")


def test_tojson_of_a_large_list():
    assert refusal("{{ (['x' * 1000] * 10000)|tojson }}") == f"The template builds {DATA_TOO_LONG}."
    # JSON writes each Cyrillic letter as six characters.
    assert refusal("{% set j = ['я' * 20000]|tojson %}{{ j|length }}").startswith(
        "The template builds a text of 120,0"
    )
    assert "indent" in refusal("{{ [[[1]]]|tojson(indent=100000000) }}")
    assert rendered("{{ {'a': [1, 'я']}|tojson }}") == '{"a": [1, "\\u044f"]}'


@pytest.mark.parametrize(
    "source",
    [
        "{% set l = ['x' * 1000] * 10000 %}{{ [l, l]|join }}",
        "{% set l = ['x' * 1000] * 10000 %}{{ 'a' ~ l }}",
        "{{ ('{0}' * 10000).format('x' * 10000)|length }}",
        "{{ ('%(a)s' * 5000) % {'a': 'x' * 10000} }}",
        "{{ ('%(a)s' * 5000)|format(a='x' * 10000) }}",
        "{{ ('{a}' * 5000).format_map({'a': 'x' * 10000})|length }}",
        "{{ ('x' * 50000).join(['ab', 'cd', 'ef']) }}",
        "{{ ('\n' * 99999)|indent(100)|length }}",
        "{{ ('x' * 99999)|wordwrap(1, wrapstring='-' * 100) }}",
    ],
)
def test_join_format_and_concatenation_are_sized_first(source):
    assert "100,000" in refusal(source)


def test_a_width_taken_from_an_argument_is_refused():
    assert refusal("{{ '{0:{1}}'.format('x', 10**8)|length }}") == (
        "Format widths and precisions have at most three digits, written in the format itself."
    )


def test_formats_within_the_limits_still_work():
    assert rendered("{{ '%s-%05.1f' % ('a', 2.25) }}|{{ '{:>6}|{x!r}'.format('b', x='c') }}") == (
        "a-002.2|     b|'c'"
    )
    assert (
        rendered("{{ '%(n)s %%'|format(n=5) }}|{{ '{a}{a}'.format_map({'a': 'z'}) }}") == "5 %|zz"
    )


def test_a_render_builds_at_most_ten_million_characters():
    # Each string is within the limits and dropped at once; all of them together are not.
    source = "{% for i in range(200) %}{% set s = 'x' * 99999 %}{% endfor %}done"
    assert refusal(source) == "The template builds more than 10,000,000 characters in one render."


@pytest.mark.parametrize(
    "step",
    ["ns.d * 10**100", "ns.d / ns.tiny", "ns.d * ns.d"],
)
def test_decimals_stay_small_enough_to_convert(step):
    # Decimal arithmetic is cheap at any exponent; turning 1E+999000 into an int is not
    # (over a minute in one C call), so a decimal may not grow past 10**1000 either way:
    # the loop on line 1 is refused, before `int` on line 2 converts anything.
    source = (
        "{% set ns = namespace(d=last_order.total, tiny=last_order.total ** -100) %}"
        "{% for i in range(30) %}{% set ns.d = " + step + " %}{% endfor %}\n{{ ns.d|int }}"
    )
    with pytest.raises(TemplateRenderError) as caught:
        rendered(source)
    assert (caught.value.line, caught.value.message) == (
        1,
        "The template computes a number that is too large.",
    )


def test_sized_filters_keep_text_marked_safe():
    html = "{{ ('<b>x</b>'|safe)|replace('x', '<i>') }}|{{ ('<b>'|safe)|center(5) }}|{{ '<b>'|e }}"
    rendered_html = fields_render(subject="", text="", html=html, context=sample_context()).html
    assert rendered_html == "<b>&lt;i&gt;</b>| <b> |&lt;b&gt;"


# --- what counts -----------------------------------------------------------------------------


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=30,
)


@hypothesis.settings(max_examples=300)
@hypothesis.given(plain)
def test_footprint_bounds_the_printed_text(value):
    # Within small factors either way: it may refuse a little early, and the text it lets
    # through is at most ten times the limit (repr() writes "\x00" for one character).
    printed = len(str(value))
    size = footprint(value, limit=10**9)
    assert size <= 2 * printed + 2
    assert printed <= 10 * size
    if isinstance(value, str):
        assert size == printed


def test_footprint_counts_shared_items_and_stops_past_the_limit():
    lines = ["x" * 1000] * 10
    assert len(str(lines)) <= footprint(lines, limit=10**9) <= len(str(lines)) + 2
    nested = [[["x" * 1000] * 1000] * 1000] * 1000
    assert MAX_VALUE < footprint(nested) < 2 * MAX_VALUE


def test_a_namespace_is_sized_by_what_it_holds_now():
    # A list sized once is not sized again, unless it holds a namespace, which may change.
    source = (
        "{% set ns = namespace(x='') %}{% set l = [ns, 'x' * 2000] * 40 %}{{ l|length }} "
        "{% set ns.x = 'y' * 5000 %}{{ l }}"
    )
    assert refusal(source) == f"The template builds {DATA_TOO_LONG}."
    assert refusal(
        "{% set ns = namespace() %}{% set ns.a = 'x' * 60000 %}{% set ns.b = ns.a %}{{ ns }}"
    ) == (f"The template builds {DATA_TOO_LONG}.")


# --- the trial render when a template is saved -------------------------------------------------


def test_validation_refuses_the_payloads_before_building(frozen_time):
    tracemalloc.start()
    try:
        problems = template_validate(
            subject="{{ ['x'*100000]*10000 }}",
            body_text="{% set l = ['x' * 1000] * 10000 %}{{ l }}",
            body_html="{{ (['x' * 1000] * 10000)|tojson }}",
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES
    assert [(p.field, p.line) for p in problems] == [
        ("subject", 1),
        ("body_text", 1),
        ("body_html", 1),
    ]
    assert all("100,000" in p.message for p in problems)


def test_staff_cannot_save_a_payload(frozen_time):
    client = logged_in(staff(Role.MARKETER))
    data = {
        "name": "Payload",
        "slug": "payload",
        "channel": "email",
        "purpose": "marketing",
        "topic": "",
        "subject": "",
        "body_text": "{% set l = ['x' * 1000] * 10000 %}{{ l }}",
        "body_html": "",
        "en_subject": "",
        "en_body_text": "",
        "en_body_html": "",
    }
    response = client.post(reverse("web:template_new"), data)
    assert response.status_code == 400
    assert DATA_TOO_LONG in response.content.decode()
    assert not Template.objects.filter(slug="payload").exists()
