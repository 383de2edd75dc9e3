"""Pricing policy: guardrails hold for any product and curve, elasticity moves the price, arms split as configured."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.experiments import assign_arm
from agents.pricing.bandit import PriceBandit, posterior
from agents.pricing.policy import margin_ok, price_bounds, price_for_strategy, price_grid
from schemas.catalog import Product
from streams.settings import ExperimentArm, PricingExperiment, PricingPolicy
from streams.synthetic.world import p_convert as true_p_convert

VIEWS_PER_EXAMPLE = 10
EXAMPLES = 1000  # x VIEWS_PER_EXAMPLE = 10,000 generated views
STRATEGIES = ("optimise", "thompson", "list_price")
SPLIT_TOLERANCE = 0.02


@st.composite
def products(draw: st.DrawFn) -> Product:
    list_price = draw(st.floats(min_value=0.5, max_value=5000, allow_nan=False))
    low = list_price * draw(st.floats(min_value=0.3, max_value=1.0))
    high = list_price * draw(st.floats(min_value=1.0, max_value=2.0))
    cost = low * draw(st.floats(min_value=0.0, max_value=1.5))
    return Product(product_id="p", title="t", category=draw(st.sampled_from(["home", "toys", "grocery"])),
                   currency="USD", list_price=round(list_price, 2), unit_cost=round(cost, 2),
                   min_price=min(round(low, 2), round(list_price, 2)),
                   max_price=max(round(high, 2), round(list_price, 2)), stock=1)  # fmt: skip


policies = st.builds(
    PricingPolicy,
    grid_points=st.integers(min_value=2, max_value=60),
    max_change=st.floats(min_value=0.0, max_value=1.0),
    min_margin=st.floats(min_value=0.0, max_value=0.9),
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(products(), policies, st.integers(min_value=0, max_value=2**32 - 1))
def test_prices_never_leave_their_bounds(product: Product, policy: PricingPolicy, seed: int) -> None:
    rng = np.random.default_rng(seed)
    grid = price_grid(product, policy)
    low, high = price_bounds(product, policy)
    assert product.min_price <= low <= product.list_price <= high <= product.max_price
    for view in range(VIEWS_PER_EXAMPLE):
        strategy = STRATEGIES[view % len(STRATEGIES)]
        prices = np.array([product.list_price]) if strategy == "list_price" else grid
        curve = rng.uniform(0, 1, len(prices)) ** rng.uniform(1, 20)
        shown = rng.integers(0, 500, len(prices))
        mean, std = posterior(curve, rng.uniform(1, 5000), shown, rng.binomial(shown, curve))
        choice = price_for_strategy(strategy, product, prices, curve, mean, std, f"{seed}-{view}", policy)
        assert product.min_price <= choice.price <= product.max_price
        assert low <= choice.price <= high
        assert 0 < choice.propensity <= 1
        ok = margin_ok(product, prices, policy)
        if strategy != "list_price" and ok.any():
            assert choice.price in prices[ok]
        else:
            assert choice.price == product.list_price


def chosen_price(elasticity: float, strategy: str, seed: int = 0) -> float:
    product = Product(product_id="p", title="t", category="home", currency="USD", list_price=60.0,
                      unit_cost=24.0, min_price=40.0, max_price=80.0, stock=1)  # fmt: skip
    policy = PricingPolicy(max_change=0.4)
    grid = price_grid(product, policy)
    curve = np.asarray(true_p_convert(rel_price=np.log(grid / product.list_price), category="home", channel="web",
                                      hour=12.0, list_price=product.list_price, elasticity=elasticity))  # fmt: skip
    mean, std = posterior(curve, policy.experiment.prior_strength, np.zeros(len(grid)), np.zeros(len(grid)))
    return price_for_strategy(strategy, product, grid, curve, mean, std, f"view-{seed}", policy).price


@pytest.mark.parametrize("strategy", ["optimise", "thompson"])
def test_a_more_elastic_product_gets_a_lower_price(strategy: str) -> None:
    seeds = range(200)
    elastic = np.median([chosen_price(-4.0, strategy, s) for s in seeds])
    inelastic = np.median([chosen_price(-1.5, strategy, s) for s in seeds])
    assert elastic < inelastic
    assert chosen_price(-4.0, "optimise") < 60.0 < chosen_price(-1.5, "optimise")


@pytest.mark.parametrize("shares", [(0.8, 0.2), (0.5, 0.5), (0.5, 0.3, 0.2), (0.9, 0.05, 0.05)])
def test_experiment_arms_split_by_the_configured_ratio(shares: tuple[float, ...]) -> None:
    experiment = PricingExperiment(
        name="split-test",
        arms=[ExperimentArm(name=f"arm{i}", strategy="optimise", share=s) for i, s in enumerate(shares)],
    )
    users = [f"u-{i:06d}" for i in range(20_000)]
    counts = Counter(assign_arm(u, experiment.name, experiment.arms).name for u in users)
    for i, share in enumerate(shares):
        assert abs(counts[f"arm{i}"] / len(users) - share) <= SPLIT_TOLERANCE, counts
    again = [assign_arm(u, experiment.name, experiment.arms).name for u in users[:100]]
    assert again == [assign_arm(u, experiment.name, experiment.arms).name for u in users[:100]]


def test_assignment_depends_on_the_experiment_name() -> None:
    arms = PricingExperiment().arms
    a = [assign_arm(f"u{i}", "exp-a", arms).name for i in range(2000)]
    b = [assign_arm(f"u{i}", "exp-b", arms).name for i in range(2000)]
    assert a != b


def test_logged_propensity_is_the_frequency_of_the_thompson_choice() -> None:
    product = Product(product_id="p", title="t", category="home", currency="USD", list_price=10.0,
                      unit_cost=4.0, min_price=8.0, max_price=12.0, stock=1)  # fmt: skip
    prices = np.array([8.0, 10.0, 12.0])
    rates = np.array([0.050, 0.030, 0.0255])
    mean, std = posterior(rates, 400.0, np.zeros(3), np.zeros(3))
    policy = PricingPolicy()
    picks = [price_for_strategy("thompson", product, prices, rates, mean, std, f"e-{i}", policy)
             for i in range(3000)]  # fmt: skip
    frequency = Counter(p.price for p in picks)
    for price in prices:
        logged = [p.propensity for p in picks if p.price == price]
        if len(logged) > 100:
            assert np.mean(logged) == pytest.approx(frequency[price] / len(picks), abs=0.05)
    ips = sum(1 / p.propensity for p in picks if p.price == 10.0) / len(picks)
    assert ips == pytest.approx(1.0, abs=0.15)


def test_observed_conversions_move_the_posterior_and_the_price() -> None:
    product = Product(product_id="p", title="t", category="home", currency="USD", list_price=10.0,
                      unit_cost=4.0, min_price=8.0, max_price=12.0, stock=1)  # fmt: skip
    prices = np.array([8.0, 10.0, 12.0])
    model = np.array([0.02, 0.02, 0.02])
    bandit = PriceBandit()
    for i in range(3000):
        bandit.record_exposure(f"d{i}", f"u{i}", "p", 8.0, ts_ms=i)
        if i % 10 == 0:
            bandit.record_order(f"u{i}", ["p"], ts_ms=i + 1, window_ms=1000)
    shown, converted = bandit.counts("p", prices)
    assert shown.tolist() == [3000, 0, 0] and converted.tolist() == [300, 0, 0]
    mean, std = posterior(model, 2000.0, shown, converted)
    assert mean[0] > 0.05 and mean[1] == pytest.approx(0.02)
    choice = price_for_strategy("thompson", product, prices, model, mean, std, "x", PricingPolicy())
    assert choice.price == 8.0
