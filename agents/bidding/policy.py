"""Pure bidding rules: which campaigns may bid on a slot, and what the bid is."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agents.bidding.budget import CPM_PER_UNIT
from agents.features import locale_matches
from schemas.catalog import Campaign
from schemas.reasons import Reason
from streams.settings import BiddingPolicy



@dataclass(slots=True)
class Bid:
    """The outcome for one slot: ``bid_cpm = 0`` means no bid."""

    bid_cpm: float
    campaign: Campaign | None
    p_ctr: float
    reasons: tuple[str, ...]


def targets(campaign: Campaign, locale: str | None, context_category: str | None, match_category: bool) -> bool:
    """Whether ``campaign`` targets a slot: its language, and its category when the slot's is known.

    Examples
    --------
    >>> c = Campaign(campaign_id="c", ad_id="a", category="toys", locales=["es-MX"], max_cpc=1, daily_budget=9,
    ...              currency="USD")
    >>> targets(c, "es-ES", None, True), targets(c, "es-ES", "books", True), targets(c, "es-ES", "books", False)
    (True, False, True)
    """
    if locale_matches(locale, campaign) == 0.0:
        return False
    return not (match_category and context_category is not None and campaign.category != context_category)


def candidate_campaigns(
    campaigns: Sequence[Campaign],
    *,
    locale: str | None,
    context_category: str | None,
    has_budget: Callable[[Campaign], bool],
    affinity: Mapping[str, float],
    limit: int,
    match_category: bool = True,
) -> tuple[list[Campaign], tuple[str, ...]]:
    """Campaigns that may bid on a slot, best matches first, and why none may when the list is empty.

    A campaign is eligible when it targets the event's language, matches the
    slot's category (when known and ``match_category``) and ``has_budget``.
    Ranking: the slot's category, then the user's affinity, then ``max_cpc``.
    Budgets are asked in rank order, only until ``limit`` campaigns qualify.

    Examples
    --------
    >>> mk = lambda cid, cat, loc: Campaign(campaign_id=cid, ad_id="a" + cid, category=cat, locales=loc,
    ...                                     max_cpc=1.0, daily_budget=10.0, currency="USD")
    >>> cs = [mk("1", "toys", ["en-US"]), mk("2", "electronics", []), mk("3", "electronics", ["zh-CN"]),
    ...       mk("4", "books", [])]
    >>> funded = lambda c: c.campaign_id != "3"
    >>> [c.campaign_id for c in candidate_campaigns(cs, locale="zh-CN", context_category="electronics",
    ...                                              has_budget=funded, affinity={}, limit=5)[0]]
    ['2']
    >>> [c.campaign_id for c in candidate_campaigns(cs, locale="en-US", context_category=None,
    ...                                              has_budget=funded, affinity={"books": 2.0}, limit=5)[0]]
    ['4', '1', '2']
    >>> candidate_campaigns(cs, locale="zh-CN", context_category="toys", has_budget=funded, affinity={}, limit=5)
    ([], ('no_campaign',))
    >>> candidate_campaigns(cs[2:3], locale="zh-CN", context_category=None, has_budget=funded, affinity={}, limit=5)
    ([], ('budget_spent',))
    """
    targeted = [c for c in campaigns if targets(c, locale, context_category, match_category)]
    return rank_funded(targeted, context_category=context_category, has_budget=has_budget, affinity=affinity,
                       limit=limit)  # fmt: skip


def presorted(targeted: Sequence[Campaign], context_category: str | None) -> list[Campaign]:
    """``targeted`` in :func:`rank_funded`'s order for a user without affinities (the slot's category first, then by CPC).

    Examples
    --------
    >>> mk = lambda cid, cat, cpc: Campaign(campaign_id=cid, ad_id="a" + cid, category=cat, max_cpc=cpc,
    ...                                     daily_budget=10.0, currency="USD")
    >>> [c.campaign_id for c in presorted([mk("1", "toys", 9.0), mk("2", "books", 3.0), mk("3", "books", 3.0)], "books")]
    ['2', '3', '1']
    """
    return sorted(targeted, key=lambda c: (c.category != context_category, -c.max_cpc, c.campaign_id))


def rank_funded(
    targeted: Sequence[Campaign],
    *,
    context_category: str | None,
    has_budget: Callable[[Campaign], bool],
    affinity: Mapping[str, float],
    limit: int,
    is_presorted: bool = False,
) -> tuple[list[Campaign], tuple[str, ...]]:
    """:func:`candidate_campaigns` for campaigns already known to target the slot (a cached pool).

    ``is_presorted``: ``targeted`` is in :func:`presorted` order for ``context_category``, so only the
    user's affinities can reorder it (a stable sort by them alone gives the full order), and a
    user with none for these categories keeps it as it is.

    Examples
    --------
    >>> mk = lambda cid, cat, cpc: Campaign(campaign_id=cid, ad_id="a" + cid, category=cat, max_cpc=cpc,
    ...                                     daily_budget=10.0, currency="USD")
    >>> pool = [mk("1", "toys", 1.0), mk("2", "books", 3.0), mk("3", "books", 2.0)]
    >>> ranked, why = rank_funded(pool, context_category="books", has_budget=lambda c: True, affinity={}, limit=2)
    >>> [c.campaign_id for c in ranked], why
    (['2', '3'], ())
    """
    if not is_presorted:
        ranked: Sequence[Campaign] = sorted(
            targeted,
            key=lambda c: (c.category != context_category, -affinity.get(c.category, 0.0), -c.max_cpc, c.campaign_id),
        )
    elif affinity and any(affinity.get(c.category) for c in targeted):
        ranked = sorted(targeted, key=lambda c: (c.category != context_category, -affinity.get(c.category, 0.0)))
    else:
        ranked = targeted
    eligible, budget_hit = [], False
    for campaign in ranked:
        if len(eligible) == limit:
            break
        if has_budget(campaign):
            eligible.append(campaign)
        else:
            budget_hit = True
    if eligible:
        return eligible, ()
    return [], ((Reason.BUDGET_SPENT.value,) if budget_hit else (Reason.NO_CAMPAIGN.value,))


def bid_for(p_ctr: float, campaign: Campaign, policy: BiddingPolicy, shading: float | None = None) -> float:
    """Shaded CPM bid for one campaign: ``1000 · p_ctr · value_per_click · shading``.

    Never above ``1000 · p_ctr · max_cpc`` (the contract's cap).

    Examples
    --------
    >>> c = Campaign(campaign_id="c", ad_id="a", category="toys", max_cpc=2.0, daily_budget=9, currency="USD")
    >>> round(bid_for(0.01, c, BiddingPolicy(value_per_click_share=0.5, shading=0.8)), 6)
    8.0
    """
    value_per_click = campaign.max_cpc * policy.value_per_click_share
    shade = policy.shading if shading is None else shading
    return min(CPM_PER_UNIT * p_ctr * value_per_click * shade, CPM_PER_UNIT * p_ctr * campaign.max_cpc)


def choose_bid(
    candidates: Sequence[Campaign],
    p_ctrs: Sequence[float],
    *,
    floor_cpm: float,
    headroom: Mapping[str, float],
    policy: BiddingPolicy,
    pace: Mapping[str, float] | None = None,
    shading: float | None = None,
) -> Bid:
    """The best paced bid that clears the floor and fits the budget, or no bid with the reason.

    Reasons when no campaign qualifies: ``below_floor`` (even unpaced bids are
    under the floor), ``paced`` (pacing pushed them under), ``budget_spent``
    (the bid would not fit the budget left).

    Examples
    --------
    >>> c = Campaign(campaign_id="c", ad_id="a", category="toys", max_cpc=2.0, daily_budget=9, currency="USD")
    >>> p = BiddingPolicy(value_per_click_share=0.5, shading=1.0)
    >>> choose_bid([c], [0.01], floor_cpm=5.0, headroom={"c": 9.0}, policy=p).bid_cpm
    10.0
    >>> choose_bid([c], [0.01], floor_cpm=50.0, headroom={"c": 9.0}, policy=p).reasons
    ('below_floor',)
    >>> choose_bid([c], [0.01], floor_cpm=5.0, headroom={"c": 9.0}, policy=p, pace={"c": 0.4}).reasons
    ('paced',)
    >>> choose_bid([c], [0.01], floor_cpm=5.0, headroom={"c": 0.005}, policy=p).reasons
    ('budget_spent',)
    """
    pace = pace or {}
    if not candidates:
        return Bid(0.0, None, 0.0, (Reason.NO_CAMPAIGN.value,))
    best: Campaign | None = None
    best_bid, best_p = 0.0, 0.0
    top_p, top_raw, top_paced = 0.0, 0.0, 0.0
    share = policy.value_per_click_share
    shade = policy.shading if shading is None else shading
    for campaign, p_ctr in zip(candidates, p_ctrs, strict=True):
        max_cpc = campaign.max_cpc
        raw = min(CPM_PER_UNIT * p_ctr * (max_cpc * share) * shade, CPM_PER_UNIT * p_ctr * max_cpc)  # bid_for, inlined
        paced = raw * pace.get(campaign.campaign_id, 1.0)
        top_p = p_ctr if p_ctr > top_p else top_p
        top_raw = raw if raw > top_raw else top_raw
        top_paced = paced if paced > top_paced else top_paced
        fits = paced / CPM_PER_UNIT <= headroom.get(campaign.campaign_id, 0.0)
        if paced > 0.0 and paced >= floor_cpm and fits and (best is None or paced > best_bid):
            best, best_bid, best_p = campaign, paced, p_ctr
    if best is not None:
        return Bid(best_bid, best, best_p, (Reason.MODEL.value,))
    if top_raw <= 0.0 or top_raw < floor_cpm:
        return Bid(0.0, None, top_p, (Reason.BELOW_FLOOR.value,))
    if top_paced <= 0.0 or top_paced < floor_cpm:
        return Bid(0.0, None, top_p, (Reason.PACED.value,))
    return Bid(0.0, None, top_p, (Reason.BUDGET_SPENT.value,))
