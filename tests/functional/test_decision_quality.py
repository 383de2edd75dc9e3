"""Decision quality through ``decide_batch`` with fake scorers: profiles before decisions, scenes, experiments,
explanations, deadlines, scene routes, redelivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from agents.context import DecisionContext, Incoming
from agents.route import Outgoing, decide_batch
from agents.scoring import Scores
from schemas.reasons import Reason
from streams.settings import ExperimentArm, PricingExperiment, PricingPolicy, SceneRoute, SceneRoutes, Settings
from streams.topics import BIDS, FRAUD, PRICES
from tests.functional.test_decide_batch import BASE, NOW, FixedScorer, catalog, incoming

PROBA = {"ctr": 0.02, "conversion": 0.05, "fraud": 0.01}


class AmountScorer(FixedScorer):
    """Fraud risk rises with the order amount (first feature: log1p(amount)); other models fixed."""

    async def score(self, model: str, features: np.ndarray) -> Scores:
        self.calls.append((model, len(features)))
        if model != "fraud":
            return Scores(np.full(len(features), self.proba[model], dtype=np.float32), f"{model}:1")
        return Scores(np.clip((features[:, 0] - 3.0) / 4.0, 0.001, 0.99).astype(np.float32), "fraud:1")


def ctx(scorer: Any = None, **settings: Any) -> DecisionContext:
    return DecisionContext(settings=Settings(_env_file=None, **settings), scorer=scorer or FixedScorer(PROBA),
                           catalog=catalog(), clock=lambda: NOW)  # fmt: skip


def at(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat()


def order(n: int, amount: float, seconds: float, card: str = "card-A", ship: str = "US", **fields: Any) -> Incoming:
    return incoming("events.orders", {
        **BASE, "ts": at(seconds), "event_id": f"o{n}", "kind": "order", "order_id": f"order-{n}", "amount": amount,
        "currency": "USD", "items": [{"product_id": "p-1", "quantity": 1, "unit_price": amount}],
        "payment": {"method": "card", "card_hash": card}, "billing_country": "US", "shipping_country": ship,
        "account_age_days": 0, "country": "US", **fields}, n)  # fmt: skip


def by_topic(out: list[Outgoing], topic: str) -> dict[str, Any]:
    return {o.decision.event_id: o.decision for o in out if o.topic == topic}


async def test_profiles_are_updated_before_deciding_so_a_batch_sees_its_earlier_orders() -> None:
    batch = [order(n, 20.0, -600 + 120 * n) for n in range(4)] + [order(4, 400.0, -60, card="card-B", ship="NG")]
    frauds = by_topic(await decide_batch(batch, ctx(AmountScorer(PROBA))), FRAUD)
    last = frauds["o4"]
    assert last.action == "block"
    rules = {"velocity_orders_1h", "amount_spike", "new_card", "country_mismatch", "new_account_high_amount"}
    assert rules <= set(last.reasons) and last.reasons[0] == Reason.HIGH_RISK.value
    assert Reason.FEATURE_AMOUNT.value in last.reasons
    assert "velocity_orders_1h" not in frauds["o3"].reasons and "new_card" not in frauds["o3"].reasons


async def test_the_same_velocity_across_batches_as_within_one() -> None:
    orders = [order(n, 20.0, -600 + 120 * n) for n in range(4)] + [order(4, 400.0, -60, card="card-B", ship="NG")]
    together = by_topic(await decide_batch(orders, ctx(AmountScorer(PROBA))), FRAUD)
    split_ctx = ctx(AmountScorer(PROBA))
    apart: dict[str, Any] = {}
    for one in orders:
        apart |= by_topic(await decide_batch([one], split_ctx), FRAUD)
    def summary(decisions: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
        return {k: (d.action, d.reasons) for k, d in decisions.items()}

    assert summary(together) == summary(apart)


async def test_explanation_probes_ride_in_the_same_request() -> None:
    scorer = AmountScorer(PROBA)
    await decide_batch([order(1, 400.0, -1, ship="NG")], ctx(scorer))
    assert scorer.calls == [("fraud", 1 + 4)]  # the order, then amount, age, billing and IP-country probes
    quiet = AmountScorer(PROBA)
    await decide_batch([order(1, 400.0, -1, ship="NG")], ctx(quiet, fraud={"explain_top_k": 0}))
    assert quiet.calls == [("fraud", 1)]


async def test_every_decision_carries_the_scene_of_its_session() -> None:
    events = [
        incoming("events.searches", {**BASE, "ts": at(-9), "session_id": "s", "event_id": "e1", "kind": "search",
                                     "query": "case", "ad_slot": {"slot_id": "a"}}, 1),
        incoming("events.clicks", {**BASE, "ts": at(-8), "session_id": "s", "event_id": "e2", "kind": "product_view",
                                   "product_id": "p-1", "ad_slot": {"slot_id": "b"}}, 2),
        incoming("events.clicks", {**BASE, "ts": at(-7), "session_id": "s", "event_id": "e3", "kind": "page_view",
                                   "page": "/cart", "ad_slot": {"slot_id": "c"}}, 3),
        order(4, 20.0, -6, session_id="s"),
        incoming("events.clicks", {**BASE, "ts": at(-5), "session_id": "s", "event_id": "e5", "kind": "page_view",
                                   "page": "/", "ad_slot": {"slot_id": "d"}}, 5),
    ]  # fmt: skip
    out = await decide_batch(events, ctx())
    scenes = {(o.topic, o.decision.event_id): o.decision.scene for o in out}
    assert scenes == {
        (BIDS, "e1"): "search", (BIDS, "e2"): "product", (PRICES, "e2"): "product", (BIDS, "e3"): "cart",
        (FRAUD, "o4"): "checkout", (BIDS, "e5"): "post_purchase",
    }  # fmt: skip


async def test_scene_routes_pick_the_served_model() -> None:
    scorer = FixedScorer({**PROBA, "ctr_search": 0.03})
    routes = SceneRoutes(search=SceneRoute(ctr_model="ctr_search"))
    events = [
        incoming("events.searches", {**BASE, "event_id": "s1", "kind": "search", "query": "q",
                                     "ad_slot": {"slot_id": "a"}}, 1),
        incoming("events.clicks", {**BASE, "event_id": "p1", "kind": "page_view", "page": "/",
                                   "ad_slot": {"slot_id": "b"}}, 2),
    ]  # fmt: skip
    out = by_topic(await decide_batch(events, ctx(scorer, scenes=routes)), BIDS)
    assert sorted(scorer.calls) == [("ctr", 1), ("ctr_search", 1)]
    assert out["s1"].model_version == "ctr_search:1" and out["p1"].model_version == "ctr:1"


async def test_a_slot_past_its_deadline_gets_no_bid_and_costs_no_rows() -> None:
    scorer = FixedScorer(PROBA)
    late = Incoming(incoming("events.clicks", {**BASE, "event_id": "late", "kind": "page_view", "page": "/",
                                               "ad_slot": {"slot_id": "a", "tmax_ms": 50}}, 1).event,
                    received_ms=int(NOW.timestamp() * 1000) - 500)  # fmt: skip
    bid = by_topic(await decide_batch([late], ctx(scorer)), BIDS)["late"]
    assert bid.bid_cpm == 0 and bid.reasons == [Reason.DEADLINE.value] and scorer.calls == []


def experiment(strategy: str) -> PricingPolicy:
    return PricingPolicy(experiment=PricingExperiment(arms=[ExperimentArm(name="only", strategy=strategy, share=1.0)]))


@pytest.mark.parametrize("strategy", ["optimise", "thompson", "list_price"])
async def test_price_decisions_log_the_arm_and_the_propensity_of_their_price(strategy: str) -> None:
    view = incoming("events.clicks", {**BASE, "event_id": "v", "kind": "product_view", "product_id": "p-1"}, 1)
    price = by_topic(await decide_batch([view], ctx(pricing=experiment(strategy))), PRICES)["v"]
    assert price.experiment.name == "price-2026a" and price.experiment.arm == "only"
    assert 0 < price.experiment.propensity <= 1 and 15 <= price.price <= 26
    if strategy == "list_price":
        assert price.price == 20 and price.experiment.propensity == 1.0 and price.reasons == ["list_price"]


async def test_default_arms_log_share_times_price_probability() -> None:
    views = [incoming("events.clicks", {**BASE, "user_id": f"u{i}", "event_id": f"v{i}", "kind": "product_view",
                                        "product_id": "p-1"}, i) for i in range(400)]  # fmt: skip
    prices = by_topic(await decide_batch(views, ctx()), PRICES).values()
    arms = {p.experiment.arm for p in prices}
    assert arms == {"model", "list_price"}
    assert all(p.experiment.propensity == 0.2 and p.price == 20 for p in prices if p.experiment.arm == "list_price")
    assert all(0 < p.experiment.propensity <= 0.8 for p in prices if p.experiment.arm == "model")


async def test_redelivered_batch_gets_identical_decisions() -> None:
    context = ctx(AmountScorer(PROBA))
    batch = [
        incoming("events.clicks", {**BASE, "event_id": "v", "kind": "product_view", "product_id": "p-1",
                                   "ad_slot": {"slot_id": "a", "floor_cpm": 0.5}}, 1),
        order(2, 300.0, -1, card="card-Z", ship="NG"),
    ]  # fmt: skip
    volatile = {"decided_at", "latency_ms"}
    first = [o.decision.model_dump(exclude=volatile) for o in await decide_batch(batch, context)]
    again = [o.decision.model_dump(exclude=volatile) for o in await decide_batch(batch, context)]
    assert first == again


async def test_a_redelivered_burst_is_not_counted_twice_in_the_velocity_table() -> None:
    context = ctx(AmountScorer(PROBA))
    burst = [order(n, 20.0, -600 + 120 * n) for n in range(4)] + [order(4, 400.0, -60, card="card-B", ship="NG")]
    volatile = {"decided_at", "latency_ms"}
    first = [o.decision.model_dump(exclude=volatile) for o in await decide_batch(burst, context)]
    again = [o.decision.model_dump(exclude=volatile) for o in await decide_batch(burst[2:], context)]
    assert again == first[2:] and "velocity_orders_1h" in first[-1]["reasons"]
    assert sum(bucket.orders for bucket in context.velocity.data.values()) == len(burst)


async def test_bidding_stops_once_the_partitions_share_of_the_budget_is_spent() -> None:
    context = ctx(topic_partitions=2)  # c-1 has a daily budget of 100: 50 per partition
    bids = 0
    for n in range(40):
        view = incoming("events.clicks", {**BASE, "event_id": f"v{n}", "kind": "page_view", "page": "/",
                                          "ad_slot": {"slot_id": "a", "floor_cpm": 1.0}}, n)  # fmt: skip
        bid = by_topic(await decide_batch([view], context), BIDS)[f"v{n}"]
        if bid.bid_cpm == 0:
            assert bid.reasons in ([Reason.BUDGET_SPENT.value], [Reason.PACED.value])
            break
        bids += 1
        win = incoming("events.clicks", {**BASE, "event_id": f"w{n}", "kind": "ad_impression",
                                         "decision_id": bid.decision_id, "campaign_id": "c-1",
                                         "clearing_cpm": 6000.0}, n)  # fmt: skip
        await decide_batch([win], context)
    day = NOW.date()
    assert 0 < bids < 40 and context.budget.spent("c-1", day, 0) <= 50.0 + 6.0
