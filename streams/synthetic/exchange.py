"""A closed-loop ad exchange: win notices and clicks that follow the bids the service actually made.

In the open loop the generator picks the shown campaign itself, so an impression's
campaign need not be the one the service bid for, and a shift in one category's
click-through reaches the service's features only partly. In the closed loop the
generator *offers* each ad slot here instead; when the service's bid decision for
the slot comes back on ``decisions.bids``, :meth:`Exchange.settle` runs the auction:
a bid at or above the floor wins with probability ``win_rate`` (the other bidders),
pays a clearing price no higher than the bid (second-price style), and the shown
ad — the campaign *we* chose — is clicked with the world's true ``p_click`` under
the scenario's shift at the moment the slot was offered.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from agents.features import locale_matches
from streams.synthetic.scenarios import Shift
from streams.synthetic.world import World, p_click
from streams.topics import CLICKS

WIN_RATE: Final = 0.5
"""Share of qualifying bids that win: the other bidders take the rest."""
CLEARING_MARKUP: Final = (1.0, 1.6)
"""The best competing bid as a multiple of the floor; the winner pays it, capped by its own bid."""
CPM_DECIMALS: Final = 4
MAX_OPEN: Final = 50_000
"""Slots kept awaiting a bid; past this the oldest is dropped (its bid never came)."""

Message = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class OpenSlot:
    """An offered ad slot: what the auction and the click need to know about it."""

    event_id: str
    session: dict[str, Any]
    scene: str
    context_category: str | None
    floor_cpm: float
    hour: float
    shift: Shift


class Exchange:
    """Ad slots awaiting the service's bid, settled into win notices and clicks.

    Examples
    --------
    >>> from datetime import UTC
    >>> from streams.synthetic.world import WorldConfig
    >>> world = World.from_seed(1, WorldConfig(products_per_category=1, campaigns_per_category=1, n_users=5))
    >>> exchange = Exchange(world, seed=3, win_rate=1.0)
    >>> session = {"user_id": "u1", "session_id": "s1", "channel": "web", "locale": "en-US", "country": "US"}
    >>> exchange.offer("bid-e1", OpenSlot("e1", session, "search", "toys", 1.0, 12.0, Shift()))
    >>> campaign = world.campaigns[0].campaign_id
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> [e["kind"] for _, _, e in exchange.settle({"decision_id": "bid-e1", "bid_cpm": 0.5, "campaign_id": campaign}, at)]
    []
    >>> exchange.offer("bid-e2", OpenSlot("e2", session, "search", "toys", 1.0, 12.0, Shift(ctr_logit=20.0)))
    >>> won = exchange.settle({"decision_id": "bid-e2", "bid_cpm": 4.0, "campaign_id": campaign}, at)
    >>> [e["kind"] for _, _, e in won], {e["campaign_id"] for _, _, e in won} == {campaign}
    (['ad_impression', 'ad_click'], True)
    >>> 1.0 <= won[0][2]["clearing_cpm"] <= 4.0
    True
    >>> exchange.open, exchange.won
    (0, 1)
    """

    def __init__(self, world: World, seed: int, win_rate: float = WIN_RATE, max_open: int = MAX_OPEN) -> None:
        self.campaigns = {c.campaign_id: c for c in world.campaigns}
        self.rng = random.Random(f"exchange/{seed}")
        self.win_rate = win_rate
        self.max_open = max_open
        self._open: OrderedDict[str, OpenSlot] = OrderedDict()
        self.settled = 0
        self.won = 0
        self.dropped = 0

    @property
    def open(self) -> int:
        """Slots still awaiting their bid."""
        return len(self._open)

    def offer(self, decision_id: str, slot: OpenSlot) -> None:
        """Put ``slot`` up for auction; the service's bid for it will carry ``decision_id``."""
        self._open[decision_id] = slot
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)
            self.dropped += 1

    def settle(self, bid: dict[str, Any], at: datetime) -> list[Message]:
        """Run the auction of the slot ``bid`` answers; the win notice and click, if any, at time ``at``.

        Bids for slots this exchange never offered (another run's, a replay) are ignored.
        """
        slot = self._open.pop(str(bid.get("decision_id")), None)
        if slot is None:
            return []
        self.settled += 1
        campaign = self.campaigns.get(str(bid.get("campaign_id")))
        bid_cpm = float(bid.get("bid_cpm") or 0.0)
        if campaign is None or bid_cpm <= 0.0 or bid_cpm < slot.floor_cpm or self.rng.random() >= self.win_rate:
            return []
        self.won += 1
        competing = slot.floor_cpm * self.rng.uniform(*CLEARING_MARKUP)
        ts = at.isoformat(timespec="milliseconds")
        common = {**slot.session, "decision_id": bid["decision_id"], "campaign_id": campaign.campaign_id, "ts": ts}
        user = slot.session["user_id"]
        out: list[Message] = [
            (CLICKS, user, {"kind": "ad_impression", "event_id": f"{slot.event_id}-win",
                            "clearing_cpm": min(bid_cpm, round(competing, CPM_DECIMALS)), **common}),
        ]  # fmt: skip
        proba = p_click(
            channel=slot.session["channel"],
            scene=slot.scene,
            hour=slot.hour,
            locale_match=locale_matches(slot.session["locale"], campaign),
            category_match=1.0 if slot.context_category == campaign.category else 0.0,
            floor_cpm=slot.floor_cpm,
            max_cpc=campaign.max_cpc,
            campaign_category=campaign.category,
            logit_shift=slot.shift.ctr_logit_for(campaign.category),
        )
        if self.rng.random() < proba:
            out.append((CLICKS, user, {"kind": "ad_click", "event_id": f"{slot.event_id}-clk", **common}))
        return out
