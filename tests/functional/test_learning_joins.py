"""Decisions join their later outcomes into labelled examples (no Kafka: a fake scorer stands in for Triton)."""

from __future__ import annotations

from datetime import timedelta

from agents.context import DecisionContext
from agents.learning.loop import LearningLoop
from agents.route import decide_batch
from schemas.decisions import decision_id_for
from streams.settings import LearningPolicy, Settings
from tests.functional.test_decide_batch import BASE, NOW, FixedScorer, catalog, incoming

PROBA = {"ctr": 0.05, "conversion": 0.05, "fraud": 0.01}
ORDER = {"kind": "order", "order_id": "o-1", "amount": 20, "currency": "USD",
         "items": [{"product_id": "p-1", "quantity": 1, "unit_price": 20}], "payment": {"method": "card", "card_hash": "h"}}


def at(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat()


def context(policy: LearningPolicy) -> DecisionContext:
    return DecisionContext(settings=Settings(_env_file=None), scorer=FixedScorer(PROBA), catalog=catalog(),
                           clock=lambda: NOW, learning=LearningLoop(policy))


async def test_each_model_gets_a_positive_from_its_outcome_and_a_negative_when_the_window_passes() -> None:
    ctx = context(LearningPolicy(click_window_s=60, order_window_s=60, chargeback_window_s=60))
    view = {**BASE, "ts": at(0), "event_id": "v1", "kind": "product_view", "product_id": "p-1",
            "ad_slot": {"slot_id": "s1", "floor_cpm": 0.01}}
    await decide_batch([incoming("events.clicks", view, 0),
                        incoming("events.orders", {**BASE, **ORDER, "ts": at(1), "event_id": "o1"}, 1)], ctx)
    bid_id = decision_id_for("v1", "bid")
    outcomes = [
        incoming("events.clicks", {**BASE, "ts": at(2), "event_id": "w1", "kind": "ad_impression",
                                   "decision_id": bid_id, "campaign_id": "c-1", "clearing_cpm": 1.0}, 2),
        incoming("events.clicks", {**BASE, "ts": at(3), "event_id": "k1", "kind": "ad_click",
                                   "decision_id": bid_id, "campaign_id": "c-1"}, 3),
        incoming("events.orders", {**BASE, "ts": at(4), "event_id": "cb1", "kind": "chargeback", "order_id": "o-1"}, 4),
    ]  # fmt: skip
    await decide_batch(outcomes, ctx)
    learned = ctx.learning.drain(NOW)
    by_model = {e.model: e for e in learned.examples}
    assert set(by_model) == {"ctr", "conversion", "fraud"}
    assert by_model["ctr"].label and by_model["ctr"].decision_id == bid_id and abs(by_model["ctr"].score - 0.05) < 1e-6
    assert by_model["fraud"].label and by_model["fraud"].decision_id == decision_id_for("o1", "fraud")
    assert by_model["conversion"].label and by_model["conversion"].decision_id == decision_id_for("v1", "price")
    assert all(e.model_version == f"{e.model}:1" and e.features for e in learned.examples)

    second = {**BASE, "ts": at(10), "event_id": "v2", "kind": "product_view", "product_id": "p-1"}
    await decide_batch([incoming("events.clicks", second, 5)], ctx)
    later = {**BASE, "ts": at(200), "event_id": "pv", "kind": "page_view", "page": "/"}
    await decide_batch([incoming("events.clicks", later, 6)], ctx)
    expired = ctx.learning.drain(NOW).examples
    assert [(e.model, e.label) for e in expired] == [("conversion", False)]
    assert ctx.learning.pending() == 0


async def test_an_unshown_bid_never_becomes_an_example() -> None:
    ctx = context(LearningPolicy(click_window_s=60))
    view = {**BASE, "ts": at(0), "event_id": "v1", "kind": "page_view", "page": "/c/electronics",
            "ad_slot": {"slot_id": "s1", "floor_cpm": 0.01}}
    await decide_batch([incoming("events.clicks", view, 0)], ctx)
    later = {**BASE, "ts": at(500), "event_id": "pv", "kind": "page_view", "page": "/"}
    await decide_batch([incoming("events.clicks", later, 1)], ctx)
    assert ctx.learning.drain(NOW).examples == [] and ctx.learning.pending() == 0


async def test_an_event_stamped_far_in_the_future_does_not_expire_other_joins() -> None:
    ctx = context(LearningPolicy(click_window_s=60, order_window_s=60, chargeback_window_s=60))
    ctx.settings = Settings(_env_file=None, max_clock_skew_s=10)
    view = {**BASE, "ts": at(0), "event_id": "v1", "kind": "product_view", "product_id": "p-1"}
    await decide_batch([incoming("events.clicks", view, 0)], ctx)
    hostile = {**BASE, "ts": "2099-01-01T00:00:00+00:00", "event_id": "pv", "kind": "page_view", "page": "/"}
    await decide_batch([incoming("events.clicks", hostile, 1)], ctx)
    assert ctx.learning.drain(NOW).examples == [] and ctx.learning.pending() == 1
    order = {**BASE, **ORDER, "ts": at(30), "event_id": "o1"}
    await decide_batch([incoming("events.orders", order, 2)], ctx)
    assert [(e.model, e.label) for e in ctx.learning.drain(NOW).examples] == [("conversion", True)]
