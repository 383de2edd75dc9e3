"""Budget pacing: each partition's share of a campaign's daily budget, what is left of it, and how hard to bid.

A campaign's daily budget is split evenly over the input partitions (win notices
are keyed by ``user_id`` like the bids they answer, so each partition's spend
is seen by one worker only), and spend is spread over the UTC day: while it runs
ahead of the day's schedule, bids shrink, down to no bid.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from agents.bidding.budget import BudgetBook
from schemas.catalog import Campaign
from streams.settings import BiddingPolicy

SECONDS_PER_DAY = 86_400.0


def day_progress(ts: datetime) -> float:
    """Share of the UTC day elapsed at ``ts`` (0 at midnight).

    Examples
    --------
    >>> day_progress(datetime(2026, 1, 1, 18, tzinfo=UTC))
    0.75
    """
    t = ts.astimezone(UTC)
    return (t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6) / SECONDS_PER_DAY


def pacing_multiplier(committed: float, budget: float, progress: float, slack: float) -> float:
    """Bid multiplier that spreads ``budget`` over the day.

    1 while spend (``committed``) is at or behind the schedule ``budget · progress``;
    falls linearly to 0 as spend runs ``slack · budget`` ahead of it; 0 once the
    budget is spent.

    Examples
    --------
    >>> [pacing_multiplier(c, 100.0, 0.5, 0.1) for c in (10.0, 50.0, 55.0, 60.0, 100.0)]
    [1.0, 1.0, 0.5, 0.0, 0.0]
    """
    if committed >= budget:
        return 0.0
    ahead = committed - budget * progress
    if ahead <= 0:
        return 1.0
    return max(0.0, 1.0 - ahead / (budget * slack))


def budget_share(campaign: Campaign, policy: BiddingPolicy, partitions: int) -> float:
    """What one of ``partitions`` input partitions may spend of the campaign's daily budget.

    Examples
    --------
    >>> c = Campaign(campaign_id="c", ad_id="a", category="toys", max_cpc=1, daily_budget=100, currency="USD")
    >>> budget_share(c, BiddingPolicy(), 4), budget_share(c, BiddingPolicy(budget_split="none"), 4)
    (25.0, 100.0)
    """
    if policy.budget_split == "partition":
        return campaign.daily_budget / partitions
    return campaign.daily_budget


def budget_state(
    campaigns: Sequence[Campaign],
    book: BudgetBook,
    *,
    day: date,
    partition: int,
    progress: float,
    share_of: dict[str, float],
    policy: BiddingPolicy,
    excluding: str | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Budget left (``share − committed``) and pacing multiplier per campaign.

    ``share_of`` maps campaign id to this partition's share of its daily budget;
    ``excluding`` leaves out the reservation of the decision being (re)made.

    Examples
    --------
    >>> c = Campaign(campaign_id="c", ad_id="a", category="toys", max_cpc=1, daily_budget=100, currency="USD")
    >>> book = BudgetBook()
    >>> book.record_win("c", clearing_cpm=30_000.0, day=date(2026, 1, 1))
    >>> budget_state([c], book, day=date(2026, 1, 1), partition=0, progress=0.25, share_of={"c": 100.0},
    ...              policy=BiddingPolicy(pacing_slack=0.1))
    ({'c': 70.0}, {'c': 0.5})
    """
    headroom, pace = {}, {}
    ids = [campaign.campaign_id for campaign in campaigns]
    slack = policy.pacing_slack
    for campaign_id, committed in zip(ids, book.committed_many(ids, day, partition, excluding), strict=True):
        share = share_of[campaign_id]
        headroom[campaign_id] = share - committed
        pace[campaign_id] = pacing_multiplier(committed, share, progress, slack) if policy.pacing else 1.0
    return headroom, pace
