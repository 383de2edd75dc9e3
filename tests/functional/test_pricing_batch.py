"""Pricing a micro-batch at once gives every view the price it got one view at a time.

``decide_prices`` draws the Thompson-sampled views of a batch together, in rounds of distinct
products, counting the exposures chosen earlier in the batch. These tests decide the same views
as one batch and one by one, on the same starting state, and compare prices, propensities and
the bandit's counts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import orjson

from agents.catalog import CatalogStore
from agents.context import DecisionContext, Incoming
from agents.experiments import Pick, normal_draws, thompson_pick, thompson_picks
from agents.route import decide_batch
from agents.scoring import Scores
from schemas.codec import decode_event
from streams.settings import ExperimentArm, PricingExperiment, PricingPolicy, Settings
from streams.topics import PRICES, PRODUCTS

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
PRODUCT_IDS = ("p-1", "p-2", "p-3")
ARMS = (
    ExperimentArm(name="model", strategy="thompson", share=0.6),
    ExperimentArm(name="greedy", strategy="optimise", share=0.2),
    ExperimentArm(name="list", strategy="list_price", share=0.2),
)


class ContentScorer:
    """A purchase probability that depends only on a feature row, so a row scores alike in any batch."""

    async def score(self, model: str, features: np.ndarray, version: int | None = None) -> Scores:
        proba = 0.005 + 0.05 * np.abs(np.sin(features.astype(np.float64).sum(axis=1)))
        return Scores(proba.astype(np.float32), f"{model}:1")


def context() -> DecisionContext:
    store = CatalogStore()
    for number, product_id in enumerate(PRODUCT_IDS):
        store.apply(PRODUCTS, product_id.encode(), orjson.dumps({
            "product_id": product_id, "title": "Thing", "category": "home", "currency": "USD",
            "list_price": 20 + 5 * number, "unit_cost": 8, "min_price": 12, "max_price": 40, "stock": 9,
        }))  # fmt: skip
    experiment = PricingExperiment(arms=ARMS, prior_strength=4.0)
    settings = Settings(_env_file=None, pricing=PricingPolicy(experiment=experiment))
    return DecisionContext(settings=settings, scorer=ContentScorer(), catalog=store, clock=lambda: NOW)


def view(number: int, user: int, product_id: str) -> Incoming:
    event = {"ts": "2026-11-23T11:59:59Z", "user_id": f"u-{user}", "channel": "web", "locale": "en-US",
             "event_id": f"v{number}", "kind": "product_view", "product_id": product_id}  # fmt: skip
    return Incoming(decode_event(orjson.dumps(event), "events.clicks"), received_ms=int(NOW.timestamp() * 1000) - 5,
                    topic="events.clicks", offset=number)  # fmt: skip


def views() -> list[Incoming]:
    """40 views of three products by 12 users; v7 is delivered twice in the batch."""
    items = [view(n, n % 12, PRODUCT_IDS[(n * 7) % 3 if n % 5 else 0]) for n in range(40)]
    return items + [items[7]]


async def warm(ctx: DecisionContext) -> None:
    """Exposures and a few conversions before the compared batch, so posteriors differ from the prior."""
    for n in range(100, 130):
        await decide_batch([view(n, n % 12, PRODUCT_IDS[n % 3])], ctx)
    for user in range(0, 12, 3):
        ctx.bandit.record_order(f"u-{user}", list(PRODUCT_IDS), ts_ms=int(NOW.timestamp() * 1000), window_ms=60_000)


def prices(out: list) -> list[tuple]:
    return [(o.decision.event_id, o.decision.price, o.decision.p_convert, tuple(o.decision.reasons),
             o.decision.experiment) for o in out if o.topic == PRICES]  # fmt: skip


async def test_a_batch_prices_every_view_as_one_at_a_time() -> None:
    batched, single = context(), context()
    await warm(batched)
    await warm(single)
    assert batched.bandit.shown == single.bandit.shown and sum(batched.bandit.converted.values()) > 0
    together = prices(await decide_batch(views(), batched))
    one_by_one = [p for item in views() for p in prices(await decide_batch([item], single))]
    assert together == one_by_one and len(together) == 41
    assert {e.arm for *_, e in together if e is not None} == {"model", "greedy", "list"}
    assert len({price for _, price, *_ in together}) > 5
    assert batched.bandit.shown == single.bandit.shown
    assert batched.bandit.converted == single.bandit.converted
    assert list(batched.bandit.exposures) == list(single.bandit.exposures)


def test_picks_of_many_decisions_equal_their_picks_one_at_a_time() -> None:
    rng = np.random.default_rng(5)
    widths = [3, 21, 1, 8, 21, 5]
    means = [rng.uniform(0.001, 0.1, k) for k in widths]
    stds = [rng.uniform(0.0, 0.02, k) for k in widths]
    payoffs = [rng.uniform(-1.0, 30.0, k) for k in widths]
    allowed = [rng.uniform(size=k) > 0.3 for k in widths]
    for a in allowed:
        a[0] = True
    noises = [normal_draws(128, k, "exp", f"e{i}") for i, k in enumerate(widths)]
    many = thompson_picks(means, stds, payoffs, allowed, noises)
    alone = [thompson_pick(*one) for one in zip(means, stds, payoffs, allowed, noises, strict=True)]
    assert many == alone == [reference_pick(*one) for one in zip(means, stds, payoffs, allowed, noises, strict=True)]
    assert {p.greedy for p in many} == {True, False} and min(p.propensity for p in many) < 1.0


def reference_pick(mean: np.ndarray, std: np.ndarray, payoff: np.ndarray, allowed: np.ndarray,
                   noise: np.ndarray) -> Pick:  # fmt: skip
    """One decision's pick as written before picks were batched."""
    values = (mean.astype(np.float32) + std.astype(np.float32) * noise) * payoff.astype(np.float32)
    if not allowed.all():
        values[:, ~allowed] = -np.inf
    winners = values.argmax(axis=1)
    chosen = int(winners[0])
    expected = np.where(allowed, mean * payoff, -np.inf)
    return Pick(chosen, np.count_nonzero(winners == chosen) / len(winners), chosen == int(np.argmax(expected)))
