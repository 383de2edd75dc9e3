"""The closed-loop exchange: slots offered by the generator, settled by the service's bids."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice

import pytest

from schemas.codec import decode_event, encode
from streams.synthetic.exchange import Exchange, OpenSlot
from streams.synthetic.scenarios import NO_SHIFT, Shift
from streams.synthetic.traffic import iter_events
from streams.synthetic.world import World, WorldConfig

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
SESSION = {"user_id": "u-1", "session_id": "s-1", "channel": "web", "locale": "en-US", "country": "US"}


@pytest.fixture(scope="module")
def world() -> World:
    return World.from_seed(5, WorldConfig(products_per_category=2, campaigns_per_category=2, n_users=200))


def campaign_of(world: World, category: str) -> str:
    return next(c.campaign_id for c in world.campaigns if c.category == category and not c.locales)


def settle_many(exchange: Exchange, n: int, bid_cpm: float, campaign_id: str, shift: Shift = NO_SHIFT) -> list:
    out = []
    for i in range(n):
        exchange.offer(f"bid-e{i}", OpenSlot(f"e{i}", SESSION, "search", "electronics", 1.0, 20.0, shift))
        out.extend(exchange.settle({"decision_id": f"bid-e{i}", "bid_cpm": bid_cpm, "campaign_id": campaign_id}, START))
    return out


def test_closed_loop_stream_offers_slots_instead_of_drawing_wins(world: World) -> None:
    exchange = Exchange(world, seed=1)
    events = [e for _, _, e in islice(iter_events(world, START, 100.0, None, exchange), 3000)]
    kinds = {e["kind"] for e in events}
    assert not kinds & {"ad_impression", "ad_click"}
    slots = [e for e in events if e.get("ad_slot")]
    assert exchange.open == len(slots) > 100


def test_wins_name_the_bid_campaign_and_pay_at_most_the_bid(world: World) -> None:
    exchange = Exchange(world, seed=2)
    campaign = campaign_of(world, "electronics")
    out = settle_many(exchange, 4000, bid_cpm=1.23456789, campaign_id=campaign)
    wins = [e for _, _, e in out if e["kind"] == "ad_impression"]
    assert abs(len(wins) / 4000 - 0.5) < 0.03
    assert {e["campaign_id"] for _, _, e in out} == {campaign}
    assert all(1.0 <= e["clearing_cpm"] <= 1.23456789 for e in wins)  # rounding never lifts it above the bid
    for topic, key, event in out:
        assert key == event["user_id"] == "u-1"
        assert decode_event(encode(event), topic).campaign_id == campaign
    assert exchange.open == 0 and exchange.settled == 4000


def test_no_win_without_a_bid_at_or_above_the_floor(world: World) -> None:
    exchange = Exchange(world, seed=3, win_rate=1.0)
    campaign = campaign_of(world, "electronics")
    assert settle_many(exchange, 50, bid_cpm=0.0, campaign_id=campaign) == []
    assert settle_many(exchange, 50, bid_cpm=0.99, campaign_id=campaign) == []
    assert exchange.settle({"decision_id": "bid-never-offered", "bid_cpm": 9.0, "campaign_id": campaign}, START) == []
    assert exchange.settled == 100


def test_clicks_follow_the_scenario_shift_of_the_bid_campaign(world: World) -> None:
    shift = Shift(ctr_logit=2.0, ctr_category="electronics")
    rates = {}
    for category in ("electronics", "books"):
        for name, s in (("before", NO_SHIFT), ("after", shift)):
            exchange = Exchange(world, seed=4, win_rate=1.0)
            out = settle_many(exchange, 6000, bid_cpm=2.0, campaign_id=campaign_of(world, category), shift=s)
            rates[category, name] = sum(e["kind"] == "ad_click" for _, _, e in out) / 6000
    assert rates["electronics", "after"] > 3 * rates["electronics", "before"]
    assert rates["books", "after"] == rates["books", "before"]


def test_open_slots_are_bounded(world: World) -> None:
    exchange = Exchange(world, seed=5, max_open=10)
    for i in range(25):
        exchange.offer(f"bid-{i}", OpenSlot(f"{i}", SESSION, "browse", None, 1.0, 3.0, NO_SHIFT))
    assert exchange.open == 10 and exchange.dropped == 15
