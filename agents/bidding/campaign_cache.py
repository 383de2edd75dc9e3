"""What bidding derives from the campaign catalog, kept across micro-batches until the catalog changes.

Targeting a slot (language and category) and a partition's share of each
campaign's budget depend only on the catalog and the settings, yet were
recomputed per slot: 30 `targets` calls per slot, a share dictionary per budget
lookup. The cache rebuilds when :attr:`CatalogStore.revision` moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agents.bidding.pacing import budget_share
from agents.bidding.policy import presorted, targets
from agents.catalog import CatalogStore
from schemas.catalog import Campaign
from streams.settings import BiddingPolicy


@dataclass
class CampaignCache:
    """Targeted campaigns per (locale, category) and each campaign's budget share, for one catalog revision.

    Examples
    --------
    >>> import orjson
    >>> from streams.topics import CAMPAIGNS
    >>> catalog = CatalogStore()
    >>> def add(cid, category, locales):
    ...     record = dict(campaign_id=cid, ad_id="a", category=category, locales=locales, max_cpc=1.0,
    ...                   daily_budget=40.0, currency="USD")
    ...     catalog.apply(CAMPAIGNS, cid.encode(), orjson.dumps(record))
    >>> add("c1", "toys", ["en-US"])
    >>> cache = CampaignCache(BiddingPolicy(), partitions=4)
    >>> [c.campaign_id for c in cache.pool(catalog, "en-GB", "toys")], cache.shares(catalog)["c1"]
    (['c1'], 10.0)
    >>> add("c2", "toys", [])
    >>> [c.campaign_id for c in cache.pool(catalog, "en-GB", "toys")]
    ['c1', 'c2']
    """

    policy: BiddingPolicy
    partitions: int
    revision: int = -1
    _pools: dict[tuple[str | None, str | None], list[Campaign]] = field(default_factory=dict)
    _mixed: dict[tuple[str | None, str | None], bool] = field(default_factory=dict)
    _shares: dict[str, float] = field(default_factory=dict)
    _campaigns: list[Campaign] = field(default_factory=list)

    def _sync(self, catalog: CatalogStore) -> None:
        if catalog.revision != self.revision:
            self.revision = catalog.revision
            self._campaigns = list(catalog.campaigns.values())
            self._pools.clear()
            self._mixed.clear()
            self._shares = {c.campaign_id: budget_share(c, self.policy, self.partitions) for c in self._campaigns}

    def pool(self, catalog: CatalogStore, locale: str | None, category: str | None) -> list[Campaign]:
        """Campaigns targeting ``locale`` and ``category``, in :func:`~agents.bidding.policy.presorted` order.

        Callers must not mutate the list.
        """
        self._sync(catalog)
        key = (locale, category)
        found = self._pools.get(key)
        if found is None:
            match = self.policy.match_context_category
            targeted = [c for c in self._campaigns if targets(c, locale, category, match)]
            found = self._pools[key] = presorted(targeted, category)
            self._mixed[key] = len({c.category for c in found}) > 1
        return found

    def mixes_categories(self, catalog: CatalogStore, locale: str | None, category: str | None) -> bool:
        """Whether :meth:`pool` holds campaigns of more than one category (only then can affinities reorder it)."""
        key = (locale, category)
        if key not in self._mixed or catalog.revision != self.revision:
            self.pool(catalog, locale, category)
        return self._mixed[key]

    def shares(self, catalog: CatalogStore) -> dict[str, float]:
        """This partition's share of each campaign's daily budget, by campaign id."""
        self._sync(catalog)
        return self._shares

    def shares_of(self, campaigns: Sequence[Campaign]) -> dict[str, float]:
        """:meth:`share` of each of ``campaigns``, by campaign id."""
        known = self._shares
        return {c.campaign_id: known[c.campaign_id] if c.campaign_id in known else self.share(c) for c in campaigns}

    def share(self, campaign: Campaign) -> float:
        """This partition's share of ``campaign``'s daily budget, also for one the catalog dropped since it was planned.

        A batch's candidates were chosen before its scoring request; a catalog update applied
        while the request ran may remove or change them, and their bids are still settled.
        """
        found = self._shares.get(campaign.campaign_id)
        return budget_share(campaign, self.policy, self.partitions) if found is None else found
