"""Pure bidding rules: which campaigns may bid on a slot, and what the bid is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.features import locale_matches
from schemas.catalog import Campaign
from schemas.reasons import Reason
from streams.settings import BiddingPolicy


@dataclass(frozen=True)
class Bid:
    """The outcome for one slot: ``bid_cpm = 0`` means no bid."""

    bid_cpm: float
    campaign: Campaign | None
    p_ctr: float
    reasons: tuple[str, ...]


def candidate_campaigns(
    campaigns: Sequence[Campaign],
    *,
    locale: str | None,
    currency_spent: dict[str, float],
    context_category: str | None,
    limit: int,
) -> tuple[list[Campaign], tuple[str, ...]]:
    """Campaigns that may bid on a slot, best matches first, and why others may not.

    A campaign is eligible when it targets the event's language and has budget left.

    Examples
    --------
    >>> mk = lambda cid, cat, loc: Campaign(campaign_id=cid, ad_id="a" + cid, category=cat, locales=loc,
    ...                                     max_cpc=1.0, daily_budget=10.0, currency="USD")
    >>> cs = [mk("1", "toys", ["en-US"]), mk("2", "electronics", []), mk("3", "electronics", ["zh-CN"])]
    >>> [c.campaign_id for c in candidate_campaigns(cs, locale="zh-CN", currency_spent={"3": 10.0},
    ...                                              context_category="electronics", limit=5)[0]]
    ['2']
    """
    eligible, budget_hit = [], False
    for campaign in campaigns:
        if locale_matches(locale, campaign) == 0.0:
            continue
        if currency_spent.get(campaign.campaign_id, 0.0) >= campaign.daily_budget:
            budget_hit = True
            continue
        eligible.append(campaign)
    eligible.sort(key=lambda c: (c.category != context_category, -c.max_cpc, c.campaign_id))
    if eligible:
        return eligible[:limit], ()
    return [], ((Reason.BUDGET_SPENT.value,) if budget_hit else (Reason.NO_CAMPAIGN.value,))


def bid_for(p_ctr: float, campaign: Campaign, policy: BiddingPolicy) -> float:
    """Shaded CPM bid for one campaign: ``1000 · p_ctr · value_per_click · shading``.

    Never above ``1000 · p_ctr · max_cpc`` (the contract's cap).

    Examples
    --------
    >>> c = Campaign(campaign_id="c", ad_id="a", category="toys", max_cpc=2.0, daily_budget=9, currency="USD")
    >>> round(bid_for(0.01, c, BiddingPolicy(value_per_click_share=0.5, shading=0.8)), 6)
    8.0
    """
    value_per_click = campaign.max_cpc * policy.value_per_click_share
    return min(1000.0 * p_ctr * value_per_click * policy.shading, 1000.0 * p_ctr * campaign.max_cpc)


def choose_bid(
    candidates: Sequence[Campaign],
    p_ctrs: Sequence[float],
    *,
    floor_cpm: float,
    remaining_budget: dict[str, float],
    policy: BiddingPolicy,
) -> Bid:
    """The best bid among scored candidates, or no bid with the reason.

    Examples
    --------
    >>> c = Campaign(campaign_id="c", ad_id="a", category="toys", max_cpc=2.0, daily_budget=9, currency="USD")
    >>> p = BiddingPolicy(value_per_click_share=0.5, shading=1.0)
    >>> choose_bid([c], [0.01], floor_cpm=5.0, remaining_budget={"c": 9.0}, policy=p).bid_cpm
    10.0
    >>> choose_bid([c], [0.01], floor_cpm=50.0, remaining_budget={"c": 9.0}, policy=p).reasons
    ('below_floor',)
    """
    best: Bid | None = None
    for campaign, p_ctr in zip(candidates, p_ctrs, strict=True):
        bid = bid_for(p_ctr, campaign, policy)
        if best is None or bid > best.bid_cpm:
            best = Bid(bid, campaign, p_ctr, (Reason.MODEL.value,))
    if best is None:
        return Bid(0.0, None, 0.0, (Reason.NO_CAMPAIGN.value,))
    if best.bid_cpm < floor_cpm or best.bid_cpm <= 0.0:
        return Bid(0.0, None, best.p_ctr, (Reason.BELOW_FLOOR.value,))
    assert best.campaign is not None
    if best.bid_cpm / 1000.0 > remaining_budget.get(best.campaign.campaign_id, 0.0):
        return Bid(0.0, None, best.p_ctr, (Reason.BUDGET_SPENT.value,))
    return best
