"""Holdout and A/B arms: deterministic per campaign and customer, near their percentages."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from lifelong.campaigns.audience import arm_of
from lifelong.campaigns.models import Arm, Campaign

IDS = range(1, 20_001)


def _campaign(holdout: int, *, salt: str = "salt", ab: int | None = None) -> Campaign:
    campaign = Campaign(holdout_percent=holdout, salt=salt)
    if ab is not None:
        campaign.template_b_id = 2
        campaign.ab_sample_percent = ab
    return campaign


def test_the_holdout_is_near_its_percentage_and_the_same_every_time():
    campaign = _campaign(10)
    arms = [arm_of(campaign, pk) for pk in IDS]
    share = arms.count(Arm.HOLDOUT) / len(arms)
    # 20 000 draws of p = 0.1: the standard error is 0.2 points; 1 point is five of them.
    assert 0.09 < share < 0.11
    assert arms == [arm_of(_campaign(10), pk) for pk in IDS]


def test_each_campaign_has_its_own_holdout():
    first = {pk for pk in IDS if arm_of(_campaign(10, salt="one"), pk) == Arm.HOLDOUT}
    second = {pk for pk in IDS if arm_of(_campaign(10, salt="two"), pk) == Arm.HOLDOUT}
    # Independent draws overlap on about 10 % of each other, not all of it.
    assert 0.07 < len(first & second) / len(first) < 0.13


def test_the_ab_sample_is_split_evenly_and_the_rest_gets_the_winner():
    arms = Counter(arm_of(_campaign(10, ab=20), pk) for pk in IDS)
    n = len(IDS)
    assert 0.09 < arms[Arm.HOLDOUT] / n < 0.11
    # 20 % of the other 90 %, half to each variant: 9 % each.
    assert 0.08 < arms[Arm.A] / n < 0.10
    assert 0.08 < arms[Arm.B] / n < 0.10
    assert 0.70 < arms[Arm.REST] / n < 0.74


@settings(max_examples=50)
@given(
    holdout=st.integers(0, 50),
    ab=st.one_of(st.none(), st.integers(2, 100)),
    salt=st.text(min_size=1, max_size=16),
    pk=st.integers(1, 2**40),
)
def test_arms_are_a_function_of_campaign_and_customer(holdout, ab, salt, pk):
    arm = arm_of(_campaign(holdout, salt=salt, ab=ab), pk)
    assert arm == arm_of(_campaign(holdout, salt=salt, ab=ab), pk)
    if holdout == 0:
        assert arm != Arm.HOLDOUT
    if ab is None:
        assert arm in (Arm.A, Arm.HOLDOUT)
    elif ab == 100:
        assert arm != Arm.REST
