"""The decision path without Kafka: a fake scorer stands in for Triton (a functional test, not integration)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from agents.catalog import CatalogStore
from agents.context import DecisionContext, Incoming
from agents.features import MODEL_FEATURES
from agents.learning.live import LiveVersions
from agents.learning.loop import LearningLoop
from agents.learning.versioned import VersionedScorer
from agents.route import decide_batch
from agents.scoring import Scores, ScoringUnavailable
from schemas.codec import decode_event
from schemas.reasons import Reason
from streams.settings import LearningPolicy, Settings
from streams.topics import BIDS, CAMPAIGNS, FRAUD, PRICES, PRODUCTS

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
BASE = {"ts": "2026-11-23T11:59:59Z", "user_id": "u-1", "channel": "web", "locale": "en-US"}


class FixedScorer:
    """Returns a fixed probability per model and counts requests."""

    def __init__(self, proba: dict[str, float]) -> None:
        self.proba = proba
        self.calls: list[tuple[str, int]] = []

    async def score(self, model: str, features: np.ndarray) -> Scores:
        self.calls.append((model, len(features)))
        return Scores(np.full(len(features), self.proba[model], dtype=np.float32), f"{model}:1")


class DownScorer:
    async def score(self, model: str, features: np.ndarray, version: int | None = None) -> Scores:
        raise ScoringUnavailable(model, Reason.TRITON_UNAVAILABLE)


def catalog() -> CatalogStore:
    store = CatalogStore()
    store.apply(PRODUCTS, b"p-1", orjson.dumps({"product_id": "p-1", "title": "Phone case", "category": "electronics",
                "currency": "USD", "list_price": 20, "unit_cost": 8, "min_price": 15, "max_price": 26, "stock": 9}))
    store.apply(CAMPAIGNS, b"c-1", orjson.dumps({"campaign_id": "c-1", "ad_id": "ad-1", "category": "electronics",
                "locales": [], "max_cpc": 1.5, "daily_budget": 100, "currency": "USD"}))
    return store


def incoming(topic: str, event: dict, offset: int) -> Incoming:
    return Incoming(decode_event(orjson.dumps(event), topic), received_ms=int(NOW.timestamp() * 1000) - 5,
                    topic=topic, offset=offset)


def batch() -> list[Incoming]:
    return [
        incoming("events.clicks", {**BASE, "event_id": "v1", "kind": "product_view", "product_id": "p-1",
                                   "ad_slot": {"slot_id": "s1", "floor_cpm": 1.0}}, 0),
        incoming("events.clicks", {**BASE, "event_id": "v2", "kind": "product_view", "product_id": "p-unknown"}, 1),
        incoming("events.clicks", {**BASE, "event_id": "pv", "kind": "page_view", "page": "/"}, 2),
        incoming("events.searches", {**BASE, "event_id": "s1", "kind": "search", "query": "case",
                                     "ad_slot": {"slot_id": "s2", "floor_cpm": 500.0}}, 3),
        incoming("events.orders", {**BASE, "event_id": "o1", "kind": "order", "order_id": "o-1", "amount": 20,
                                   "currency": "USD", "items": [{"product_id": "p-1", "quantity": 1, "unit_price": 20}],
                                   "payment": {"method": "card", "card_hash": "h"}}, 4),
    ]


def ctx(scorer: object) -> DecisionContext:
    return DecisionContext(settings=Settings(_env_file=None), scorer=scorer, catalog=catalog(), clock=lambda: NOW)


async def test_one_decision_per_eligible_event_and_one_request_per_model() -> None:
    scorer = FixedScorer({"ctr": 0.02, "conversion": 0.05, "fraud": 0.01})
    out = await decide_batch(batch(), ctx(scorer))
    by_topic = {t: [o.decision for o in out if o.topic == t] for t in (BIDS, PRICES, FRAUD)}
    assert [d.event_id for d in by_topic[BIDS]] == ["v1", "s1"]
    assert [d.event_id for d in by_topic[PRICES]] == ["v1"]
    assert [d.event_id for d in by_topic[FRAUD]] == ["o1"]
    assert sorted(m for m, _ in scorer.calls) == ["conversion", "ctr", "fraud"]
    bid_v1, bid_s1 = by_topic[BIDS]
    assert bid_v1.bid_cpm > 0 and bid_v1.campaign_id == "c-1"
    assert bid_v1.bid_cpm <= 1000 * bid_v1.p_ctr * 1.5 and bid_v1.bid_cpm >= 1.0
    assert bid_s1.bid_cpm == 0 and bid_s1.reasons == [Reason.BELOW_FLOOR.value]
    price = by_topic[PRICES][0]
    assert 15 <= price.price <= 26 and not price.degraded
    assert by_topic[FRAUD][0].action == "allow"
    assert all(o.decision.latency_ms == pytest.approx(5, abs=1) for o in out)


async def test_decision_ids_are_stable_on_redelivery() -> None:
    scorer = FixedScorer({"ctr": 0.02, "conversion": 0.05, "fraud": 0.01})
    first = [o.decision.decision_id for o in await decide_batch(batch(), ctx(scorer))]
    again = [o.decision.decision_id for o in await decide_batch(batch(), ctx(scorer))]
    assert first == again and len(set(first)) == len(first)


async def test_triton_down_degrades_every_family() -> None:
    out = await decide_batch(batch(), ctx(DownScorer()))
    assert out and all(o.decision.degraded for o in out)
    decisions = {o.topic: o.decision for o in out}
    assert decisions[BIDS].bid_cpm == 0
    assert decisions[PRICES].price == 20
    assert decisions[FRAUD].action in ("allow", "review")


async def test_budget_spent_stops_bidding() -> None:
    context = ctx(FixedScorer({"ctr": 0.02, "conversion": 0.05, "fraud": 0.01}))
    win = incoming("events.clicks", {**BASE, "event_id": "w1", "kind": "ad_impression", "decision_id": "bid-x",
                                     "campaign_id": "c-1", "clearing_cpm": 100_000.0}, 9)
    out = await decide_batch([win, batch()[0]], context)
    bid = next(o.decision for o in out if o.topic == BIDS)
    assert bid.bid_cpm == 0 and bid.reasons == [Reason.BUDGET_SPENT.value]


def warmed_learning(examples: int) -> LearningLoop:
    """A learning loop whose online learners saw ``examples`` labels each (clicks, conversions: all positive)."""
    loop = LearningLoop(LearningPolicy())
    rng = np.random.default_rng(3)
    for model, width in MODEL_FEATURES.items():
        if model in loop.online:
            for _ in range(examples):
                loop.online[model].learn_one(rng.random(width), model != "fraud")
    return loop


async def test_online_learners_stand_in_for_triton_once_warm() -> None:
    loop = warmed_learning(LearningPolicy().fallback_min_examples)
    context = ctx(VersionedScorer(DownScorer(), LiveVersions(), loop.fallback))
    context.learning = loop
    out = await decide_batch(batch(), context)
    decisions = {o.topic: o.decision for o in out if o.decision.event_id in ("v1", "o1")}
    assert set(decisions) == {BIDS, PRICES, FRAUD} and all(d.degraded for d in decisions.values())
    for topic, model in ((BIDS, "ctr"), (PRICES, "conversion"), (FRAUD, "fraud")):
        decision = decisions[topic]
        assert decision.model_version == f"{model}:online", decision
        assert decision.reasons[:2] == [Reason.TRITON_UNAVAILABLE.value, Reason.ONLINE_FALLBACK.value], decision
    assert decisions[BIDS].bid_cpm > 0 and decisions[BIDS].p_ctr > 0.5
    assert loop.pending() == 0, "degraded scores must not be joined as the live model's"


async def test_a_cold_online_learner_leaves_the_rule_fallbacks_in_charge() -> None:
    loop = warmed_learning(LearningPolicy().fallback_min_examples - 1)
    context = ctx(VersionedScorer(DownScorer(), LiveVersions(), loop.fallback))
    out = await decide_batch(batch(), context)
    assert out and all(o.decision.degraded for o in out)
    assert not any(o.decision.model_version.endswith(":online") for o in out)
    assert {o.topic: o.decision for o in out}[BIDS].bid_cpm == 0


async def test_a_campaign_removed_while_its_slot_is_scored_still_gets_its_bid_settled() -> None:
    class RemovingScorer(FixedScorer):
        """Deletes the only campaign from the catalog while the ctr request is in flight."""

        async def score(self, model: str, features: np.ndarray) -> Scores:
            if model == "ctr":
                context.catalog.apply(CAMPAIGNS, b"c-1", None)
            return await super().score(model, features)

    context = ctx(RemovingScorer({"ctr": 0.02, "conversion": 0.05, "fraud": 0.01}))
    bids = [o.decision for o in await decide_batch(batch(), context) if o.topic == BIDS]
    assert bids[0].campaign_id == "c-1" and bids[0].bid_cpm > 0
    again = [o.decision for o in await decide_batch(batch(), context) if o.topic == BIDS]
    assert again[0].bid_cpm == 0 and again[0].reasons == [Reason.NO_CAMPAIGN.value]
