"""A route reversed once with a placeholder gives, for any token, the link reverse() gives."""

from __future__ import annotations

import string

from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from lifelong.lib.signing import absolute_url, token_make
from lifelong.messaging.links import token_link

# The URL-safe base64 alphabet that tokens are written in (token_make strips the padding).
TOKENS = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=200)
ROUTES = st.sampled_from(
    ["portal:click", "portal:open", "portal:preferences", "portal:unsubscribe", "portal:loyalty"]
)


@given(route=ROUTES, token=TOKENS)
def test_the_link_is_the_one_reverse_gives(route, token):
    assert token_link(route)(token) == absolute_url(reverse(route, args=[token]))


@given(route=ROUTES, value=st.integers(1, 10**12))
def test_real_tokens_too(route, value):
    token = token_make(purpose="click", value=value)
    assert token_link(route)(token) == absolute_url(reverse(route, args=[token]))
