"""The batched and cached pricing paths decide exactly as the simple versions they replaced.

Each reference below is the code as it was written before it was batched or cached; the
tests compare on random inputs, including ties, options that may not be chosen and
non-finite values, and require equal results (not approximately equal).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.experiments import Pick, normal_draws, thompson_picks, thompson_picks_packed
from agents.features import (
    N_CONVERSION_FEATURES, conversion_features, conversion_product_rows, conversion_view_rows, hour_of_day, one_hot,
)  # fmt: skip
from agents.pricing.bandit import CENTS_PER_UNIT, PendingExposures, PriceBandit, count_keys, posterior
from agents.pricing.plans import PricePlans
from agents.pricing.policy import (
    PriceChoice, SampledView, choose_price, fixed_plan_price, guardrail_reasons, margin_ok, price_grid,
    thompson_plan_prices, thompson_prices,
)  # fmt: skip
from schemas.catalog import Product
from schemas.common import CATEGORIES, KNOWN_CHANNELS
from schemas.reasons import Reason
from streams.settings import PricingPolicy

EXAMPLES = 300
DRAWS = (16, 128)


def reference_picks(means: list[np.ndarray], stds: list[np.ndarray], payoffs: list[np.ndarray],
                    alloweds: list[np.ndarray], noises: list[np.ndarray]) -> list[Pick]:  # fmt: skip
    """Thompson picks as computed before options were laid out by option: ``[decision, draw, option]``, ``argmax``."""
    rows, width = len(means), max(len(mean) for mean in means)
    mean32, std32, payoff32 = (np.zeros((rows, width), dtype=np.float32) for _ in range(3))
    expected = np.full((rows, width), -np.inf)
    allowed = np.zeros((rows, width), dtype=bool)
    noise = np.zeros((rows, noises[0].shape[0], width), dtype=np.float32)
    for row, (m, s, p, a, n) in enumerate(zip(means, stds, payoffs, alloweds, noises, strict=True)):
        k = len(m)
        mean32[row, :k], std32[row, :k], payoff32[row, :k] = m, s, p
        expected[row, :k] = np.where(a, m * p, -np.inf)
        allowed[row, :k] = a
        noise[row, :, :k] = n
    values = (mean32[:, None, :] + std32[:, None, :] * noise) * payoff32[:, None, :]
    values[~np.broadcast_to(allowed[:, None, :], values.shape)] = -np.inf
    winners = values.argmax(axis=2)
    chosen = winners[:, 0]
    propensity = np.count_nonzero(winners == chosen[:, None], axis=1) / winners.shape[1]
    greedy = chosen == expected.argmax(axis=1)
    return [Pick(index=int(c), propensity=float(p), greedy=bool(g)) for c, p, g in zip(chosen, propensity, greedy)]


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=1, max_value=30),
    st.booleans(),
    st.sampled_from(["plain", "ties", "integer_draws", "nan", "none_allowed", "all_allowed", "overflow"]),
    st.sampled_from(DRAWS),
)
def test_packed_picks_equal_the_picks_of_the_padded_argmax(seed: int, rows: int, same_width: bool, case: str,
                                                          draws: int) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(1, 25))] * rows if same_width else [int(rng.integers(1, 25)) for _ in range(rows)]
    means = [rng.uniform(0.001, 0.1, k) for k in widths]
    stds = [rng.uniform(0.0, 0.02, k) for k in widths]
    payoffs = [rng.uniform(-1.0, 30.0, k) for k in widths]
    alloweds = [rng.uniform(size=k) > 0.3 for k in widths]
    if case == "ties":  # options alike but for a few noiseless ones: draws tie across options
        for mean, std, payoff in zip(means, stds, payoffs, strict=True):
            mean[:], std[:], payoff[:] = 0.02, rng.choice([0.0, 0.01], len(std)), rng.choice([5.0, 6.0], len(payoff))
    elif case == "nan":
        row = int(rng.integers(0, rows))
        means[row][int(rng.integers(0, widths[row]))] = np.nan
    elif case == "none_allowed":
        alloweds[int(rng.integers(0, rows))][:] = False
    elif case == "all_allowed":
        for allowed in alloweds:
            allowed[:] = True
    elif case == "overflow":  # float32 values of +-inf
        payoffs[0][:] = 1e39
    noises = [normal_draws(draws, k, "exp", f"{seed}-{i}") for i, k in enumerate(widths)]
    if case == "integer_draws":  # whole-number values: most draws tie across several options
        means = [rng.integers(0, 2, k).astype(float) for k in widths]
        stds, payoffs = [np.ones(k) for k in widths], [np.ones(k) for k in widths]
        noises = [rng.integers(-2, 3, (draws, k)).astype(np.float32) for k in widths]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = reference_picks(means, stds, payoffs, alloweds, noises)
        assert thompson_picks(means, stds, payoffs, alloweds, noises) == expected
        packed = [np.concatenate(arrays) for arrays in (means, stds, payoffs, alloweds)]
        assert thompson_picks_packed(*packed, widths, noises) == expected


def test_picks_need_one_number_of_draws() -> None:
    with pytest.raises(ValueError, match="same number of draws"):
        thompson_picks_packed(np.zeros(4), np.zeros(4), np.ones(4), np.ones(4, bool), [2, 2],
                              [normal_draws(16, 2, "a"), normal_draws(32, 2, "b")])  # fmt: skip


def reference_counts(bandit: PriceBandit, product_id: str, prices: np.ndarray, excluding: str | None,
                     pending: PendingExposures | None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """:meth:`PriceBandit.counts` as written before it read many views at once."""
    points = np.rint(np.asarray(prices) * CENTS_PER_UNIT).astype(np.int64).tolist()
    shown = np.array([bandit.shown.get((product_id, k), 0) for k in points], dtype=np.int64)
    converted = np.array([bandit.converted.get((product_id, k), 0) for k in points], dtype=np.int64)
    own = bandit.exposures.get(excluding) if excluding else None
    if own is not None and own.product_id == product_id and own.point in points:
        index = points.index(own.point)
        shown[index] -= 1
        converted[index] -= 1 if own.converted else 0
    if pending is not None and pending.shown:
        shown += np.array([pending.shown.get((product_id, k), 0) for k in points], dtype=np.int64)
        held = pending.points.get(excluding) if excluding else None
        if held is not None and held[0] == product_id and held[1] in points:
            shown[points.index(held[1])] -= 1
    return shown, converted


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.booleans())
def test_counts_of_many_views_equal_each_views_counts(seed: int, with_pending: bool) -> None:
    rng = np.random.default_rng(seed)
    products = [f"p{i}" for i in range(4)]
    grid = np.round(rng.uniform(5.0, 15.0, 6), 2)
    bandit, pending = PriceBandit(), PendingExposures() if with_pending else None
    for n in range(60):
        user, product = f"u{rng.integers(0, 8)}", products[rng.integers(0, len(products))]
        bandit.record_exposure(f"d{n}", user, product, float(rng.choice(grid)), ts_ms=n)
        if rng.uniform() < 0.3:
            bandit.record_order(user, [product], ts_ms=n + 1, window_ms=100)
    if pending is not None:
        for n in range(60, 75):
            bandit.hold_exposure(pending, f"d{n}", products[rng.integers(0, len(products))], float(rng.choice(grid)))
    views = [(products[rng.integers(0, len(products))], rng.permutation(grid)[: rng.integers(0, len(grid) + 1)],
              rng.choice([None, "", f"d{rng.integers(0, 80)}"])) for _ in range(rng.integers(0, 12))]  # fmt: skip
    shown, converted = bandit.counts_many([count_keys(p, prices) for p, prices, _ in views],
                                          [excluding for *_, excluding in views], pending)  # fmt: skip
    expected = [reference_counts(bandit, p, prices, excluding, pending) for p, prices, excluding in views]
    assert shown.dtype == converted.dtype == np.int64
    assert shown.tolist() == [n for s, _ in expected for n in s.tolist()]
    assert converted.tolist() == [n for _, c in expected for n in c.tolist()]
    one = [bandit.counts(p, prices, excluding, pending) for p, prices, excluding in views]
    assert [(s.tolist(), c.tolist()) for s, c in one] == [(s.tolist(), c.tolist()) for s, c in expected]


def reference_guardrails(product: Product, price: float, policy: PricingPolicy) -> tuple[str, ...]:
    return guardrail_reasons(product, price, policy)


def reference_list_price(product: Product, prices: np.ndarray, p_convert: np.ndarray, reason: Reason) -> PriceChoice:
    index = int(np.argmin(np.abs(prices - product.list_price)))
    return PriceChoice(float(product.list_price), float(p_convert[index]), (reason.value,))


def reference_choose(product: Product, prices: np.ndarray, p_convert: np.ndarray, policy: PricingPolicy) -> PriceChoice:
    """:func:`choose_price` as written before price plans."""
    ok = margin_ok(product, prices, policy)
    if not ok.any():
        return reference_list_price(product, prices, p_convert, Reason.MARGIN_FLOOR)
    value = np.where(ok, p_convert * (prices - product.unit_cost), -np.inf)
    best = int(np.argmax(value))
    price = float(prices[best])
    return PriceChoice(price, float(p_convert[best]), (Reason.OPTIMISED.value, *reference_guardrails(product, price, policy)))


def reference_thompson(product: Product, prices: np.ndarray, p_convert: np.ndarray, mean: np.ndarray,
                       std: np.ndarray, draw_key: str, policy: PricingPolicy) -> PriceChoice:  # fmt: skip
    """One view's Thompson-sampled price as written before price plans."""
    ok = margin_ok(product, prices, policy)
    if not ok.any():
        return reference_list_price(product, prices, p_convert, Reason.MARGIN_FLOOR)
    experiment = policy.experiment
    noise = normal_draws(experiment.propensity_draws, len(prices), experiment.name, draw_key)
    pick = reference_picks([mean], [std], [prices - product.unit_cost], [ok], [noise])[0]
    price = float(prices[pick.index])
    why = Reason.OPTIMISED if pick.greedy else Reason.EXPLORED
    return PriceChoice(price, float(p_convert[pick.index]), (why.value, *reference_guardrails(product, price, policy)),
                       pick.propensity)  # fmt: skip


@st.composite
def products(draw: st.DrawFn) -> Product:
    list_price = round(draw(st.floats(min_value=0.5, max_value=5000)), 2)
    low = round(list_price * draw(st.floats(min_value=0.3, max_value=1.0)), 2)
    high = round(list_price * draw(st.floats(min_value=1.0, max_value=2.0)), 2)
    return Product(product_id=draw(st.sampled_from(["p", "q"])), title="t", category="home", currency="USD",
                   list_price=list_price, unit_cost=round(low * draw(st.floats(min_value=0.0, max_value=1.5)), 2),
                   min_price=min(low, list_price), max_price=max(high, list_price), stock=1)  # fmt: skip


policies = st.builds(
    PricingPolicy,
    grid_points=st.integers(min_value=2, max_value=40),
    max_change=st.floats(min_value=0.0, max_value=1.0),
    min_margin=st.floats(min_value=0.0, max_value=0.9),
)


def without_index(choice: PriceChoice) -> PriceChoice:
    return replace(choice, index=None)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(products(), min_size=1, max_size=8), policies, st.integers(min_value=0, max_value=2**32 - 1))
def test_plan_prices_equal_the_prices_of_the_simple_rules(products: list[Product], policy: PricingPolicy,
                                                          seed: int) -> None:  # fmt: skip
    rng = np.random.default_rng(seed)
    plans = PricePlans()
    grids = [plans.grid(product, policy) for product in products]
    for product, candidates in zip(products, grids, strict=True):
        assert candidates.plan.prices is price_grid(product, policy)
        assert candidates.keys == count_keys(product.product_id, candidates.plan.prices)
    curves = [rng.uniform(0, 0.2, len(c.plan.prices)).astype(np.float32) for c in grids]
    shown = [rng.integers(0, 300, len(c.plan.prices)) for c in grids]
    posteriors = [posterior(curve, 50.0, n, rng.binomial(n, curve)) for curve, n in zip(curves, shown, strict=True)]
    keys = [f"{seed}-{i}" for i in range(len(products))]
    expected = [reference_thompson(p, c.plan.prices, curve, mean, std, key, policy)
                for p, c, curve, (mean, std), key in zip(products, grids, curves, posteriors, keys, strict=True)]
    batched = thompson_plan_prices([c.plan for c in grids], curves, np.concatenate([m for m, _ in posteriors]),
                                   np.concatenate([s for _, s in posteriors]), keys, policy.experiment)  # fmt: skip
    assert [without_index(c) for c in batched] == expected
    views = [SampledView(p, c.plan.prices, curve, mean, std, key)
             for p, c, curve, (mean, std), key in zip(products, grids, curves, posteriors, keys, strict=True)]
    assert thompson_prices(views, policy, policy.experiment) == batched
    for product, candidates, curve, choice in zip(products, grids, curves, batched, strict=True):
        prices = candidates.plan.prices
        assert choice.index == int(np.argmin(np.abs(prices - choice.price)))
        optimised = fixed_plan_price("optimise", candidates.plan, curve)
        assert without_index(optimised) == reference_choose(product, prices, curve, policy)
        assert choose_price(product, prices, curve, policy) == optimised
        assert optimised.index == int(np.argmin(np.abs(prices - optimised.price)))
        alone = plans.list_price(product, policy)
        listed = fixed_plan_price("list_price", alone.plan, curve[:1])
        assert alone.plan.prices.tolist() == [product.list_price] and listed.index == 0
        assert without_index(listed) == reference_list_price(product, np.array([product.list_price]), curve[:1],
                                                             Reason.LIST_PRICE)  # fmt: skip


def reference_conversion_features(channel: str, ts: datetime, product: Product, prices: np.ndarray) -> np.ndarray:
    """:func:`conversion_features` as written before its product part was kept per product."""
    fixed = np.array([*one_hot(product.category, CATEGORIES, other=False), math.log(product.list_price),
                      *one_hot(channel, KNOWN_CHANNELS), *hour_of_day(ts)], dtype=np.float32)  # fmt: skip
    rel = np.log(np.asarray(prices, dtype=np.float64) / product.list_price).astype(np.float32)
    out = np.empty((len(rel), N_CONVERSION_FEATURES), dtype=np.float32)
    out[:, 0] = rel
    out[:, 1:] = fixed
    return out


@settings(max_examples=EXAMPLES, deadline=None)
@given(products(), st.sampled_from(CATEGORIES), st.sampled_from([*KNOWN_CHANNELS, "kiosk", ""]),
       st.datetimes(timezones=st.just(UTC)), st.integers(min_value=0, max_value=2**32 - 1))  # fmt: skip
def test_conversion_rows_from_a_products_part_equal_the_features_built_whole(
    product: Product, category: str, channel: str, ts: datetime, seed: int
) -> None:
    product = product.model_copy(update={"category": category})
    prices = np.round(np.random.default_rng(seed).uniform(0.5, 2.0, 7) * product.list_price, 2)
    part = conversion_product_rows(product, prices)
    rows = conversion_view_rows(part, channel=channel, ts=ts)
    expected = reference_conversion_features(channel, ts, product, prices)
    assert rows.dtype == expected.dtype and rows.shape == expected.shape and rows.tobytes() == expected.tobytes()
    assert conversion_features(channel=channel, ts=ts, product=product, prices=prices).tobytes() == rows.tobytes()
    assert not part.flags.writeable and rows.flags.writeable


def test_price_plans_are_rebuilt_for_a_new_product_record_or_policy() -> None:
    product = Product(product_id="p", title="t", category="home", currency="USD", list_price=10.0, unit_cost=4.0,
                      min_price=8.0, max_price=12.0, stock=1)  # fmt: skip
    plans, policy = PricePlans(), PricingPolicy()
    first = plans.grid(product, policy)
    assert plans.grid(product, policy) is first and plans.list_price(product, policy) is plans.list_price(product, policy)
    cheaper = product.model_copy(update={"unit_cost": 9.9})
    assert plans.grid(cheaper, policy) is not first and plans.grid(cheaper, policy).plan.product is cheaper
    assert not plans.grid(cheaper, policy).plan.allowed[0] and first.plan.allowed[0]
    narrow = PricingPolicy(max_change=0.05)
    assert plans.grid(cheaper, narrow).plan.values[0] == 9.5 and plans.grid(cheaper, narrow) is plans.grid(cheaper, narrow)
    for candidates in (plans.grid(cheaper, narrow), plans.list_price(cheaper, narrow)):
        arrays = (candidates.plan.prices, candidates.plan.allowed, candidates.plan.payoff, candidates.rows)
        assert not any(array.flags.writeable for array in arrays)
