"""Pure pricing rules: candidate price grid, the expected-margin choice, and Thompson-sampled exploration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from agents.experiments import normal_draws, thompson_picks_packed
from schemas.catalog import Product
from schemas.reasons import Reason
from streams.settings import ArmStrategy, PricingExperiment, PricingPolicy

CENTS = 2
GRID_CACHE_SIZE = 65_536


def price_bounds(product: Product, policy: PricingPolicy) -> tuple[float, float]:
    """The allowed price interval: catalog bounds intersected with the max change vs list price.

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=100,
    ...             unit_cost=50, min_price=90, max_price=150, stock=1)
    >>> price_bounds(p, PricingPolicy(max_change=0.2))
    (90.0, 120.0)
    """
    low = max(product.min_price, product.list_price * (1 - policy.max_change))
    high = min(product.max_price, product.list_price * (1 + policy.max_change))
    return float(low), float(high)


def price_grid(product: Product, policy: PricingPolicy) -> np.ndarray:
    """Candidate prices: ``grid_points`` evenly spaced within :func:`price_bounds`, plus list price.

    The grid is cached per (bounds, list price, points) and read-only.

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=100,
    ...             unit_cost=50, min_price=90, max_price=110, stock=1)
    >>> price_grid(p, PricingPolicy(grid_points=3)).tolist()
    [90.0, 100.0, 110.0]
    """
    low, high = price_bounds(product, policy)
    return _grid(low, high, float(product.list_price), policy.grid_points)


@lru_cache(maxsize=GRID_CACHE_SIZE)
def _grid(low: float, high: float, list_price: float, points: int) -> np.ndarray:
    grid = np.unique(np.round(np.append(np.linspace(low, high, points), list_price), CENTS).clip(low, high))
    grid.flags.writeable = False
    return grid


@dataclass(slots=True)
class PriceChoice:
    """A chosen price, its purchase probability, the reasons, its probability given the arm, and its position.

    ``index`` is the price's position among the candidate prices it was chosen from (None when
    it was not chosen from any, as :func:`fallback_price`).
    """

    price: float
    p_convert: float
    reasons: tuple[str, ...]
    propensity: float = 1.0
    index: int | None = None


@dataclass(slots=True)
class PricePlan:
    """What pricing derives from a product and its candidate prices alone, so a product priced again reuses it.

    Build with :meth:`of`; never changed after (its arrays are read-only).
    """

    product: Product
    prices: np.ndarray
    values: list[float]
    """``prices`` as Python floats (a decision's price)."""
    allowed: np.ndarray
    """:func:`margin_ok` of each price."""
    drawable: bool
    """Whether any price clears the margin floor."""
    payoff: np.ndarray
    """``prices − unit_cost``: the margin a sale at each price earns."""
    clipped: list[bool]
    """Whether each price sits on a bound set by the max change (:func:`guardrail_reasons`)."""
    list_index: int
    """Position of the price nearest list price."""

    @classmethod
    def of(cls, product: Product, prices: np.ndarray, policy: PricingPolicy) -> PricePlan:
        """The plan of ``product`` at ``prices`` under ``policy``.

        Examples
        --------
        >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=100,
        ...             unit_cost=50, min_price=50, max_price=150, stock=1)
        >>> plan = PricePlan.of(p, np.array([52.0, 80.0, 100.0]), PricingPolicy(max_change=0.2))
        >>> plan.allowed.tolist(), plan.clipped, plan.list_index, plan.payoff.tolist()
        ([False, True, True], [True, True, False], 2, [2.0, 30.0, 50.0])
        """
        low, high = price_bounds(product, policy)
        floating = np.asarray(prices, dtype=float)
        clipped = np.zeros(len(floating), dtype=bool)
        if low > product.min_price:
            clipped |= floating <= low
        if high < product.max_price:
            clipped |= floating >= high
        allowed = margin_ok(product, prices, policy)
        payoff = prices - product.unit_cost
        for array in (allowed, payoff):
            array.flags.writeable = False
        return cls(
            product, prices, floating.tolist(), allowed, bool(allowed.any()), payoff, clipped.tolist(),
            int(np.argmin(np.abs(prices - product.list_price))),
        )  # fmt: skip

    def choice(self, index: int, p_convert: np.ndarray, why: Reason, propensity: float = 1.0) -> PriceChoice:
        """The choice of price ``index`` for reason ``why``, with the max-change guardrail when it applies."""
        reasons = (why.value, Reason.MAX_CHANGE.value) if self.clipped[index] else (why.value,)
        return PriceChoice(self.values[index], float(p_convert[index]), reasons, propensity, index)

    def list_price(self, p_convert: np.ndarray, reason: Reason) -> PriceChoice:
        """List price (the candidates must hold it), with its purchase probability."""
        index = self.list_index
        return PriceChoice(float(self.product.list_price), float(p_convert[index]), (reason.value,), index=index)

    def best(self, p_convert: np.ndarray) -> PriceChoice:
        """The price maximising expected margin above the margin floor (:func:`choose_price`)."""
        if not self.drawable:
            return self.list_price(p_convert, Reason.MARGIN_FLOOR)
        value = np.where(self.allowed, p_convert * self.payoff, -np.inf)
        return self.choice(int(np.argmax(value)), p_convert, Reason.OPTIMISED)


def margin_ok(product: Product, prices: np.ndarray, policy: PricingPolicy) -> np.ndarray:
    """Which prices keep ``(price − unit_cost) / price`` at or above the margin floor.

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=10,
    ...             unit_cost=9, min_price=9, max_price=12, stock=1)
    >>> margin_ok(p, np.array([9.0, 9.5, 10.0]), PricingPolicy(min_margin=0.05)).tolist()
    [False, True, True]
    """
    return prices - product.unit_cost >= policy.min_margin * prices


def guardrail_reasons(product: Product, price: float, policy: PricingPolicy) -> tuple[str, ...]:
    """``max_change`` when the price sits on a bound set by the max change rather than the catalog.

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=100,
    ...             unit_cost=50, min_price=50, max_price=150, stock=1)
    >>> guardrail_reasons(p, 80.0, PricingPolicy(max_change=0.2)), guardrail_reasons(p, 90.0, PricingPolicy())
    (('max_change',), ())
    """
    low, high = price_bounds(product, policy)
    clipped_low = low > product.min_price and price <= low
    clipped_high = high < product.max_price and price >= high
    return (Reason.MAX_CHANGE.value,) if clipped_low or clipped_high else ()


def list_price_choice(product: Product, prices: np.ndarray, p_convert: np.ndarray, reason: Reason) -> PriceChoice:
    """List price (``prices`` must contain it), with its purchase probability."""
    index = int(np.argmin(np.abs(prices - product.list_price)))
    return PriceChoice(float(product.list_price), float(p_convert[index]), (reason.value,), index=index)


def choose_price(product: Product, prices: np.ndarray, p_convert: np.ndarray, policy: PricingPolicy) -> PriceChoice:
    """Price maximising ``p_convert(price) · (price − unit_cost)`` above the margin floor.

    Falls back to list price when no candidate clears the margin floor.

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=100,
    ...             unit_cost=50, min_price=80, max_price=120, stock=1)
    >>> prices = np.array([80.0, 100.0, 120.0])
    >>> choose_price(p, prices, np.array([0.05, 0.03, 0.01]), PricingPolicy()).price
    80.0
    >>> choose_price(p, prices, np.array([0.01, 0.03, 0.02]), PricingPolicy()).price
    100.0
    """
    return PricePlan.of(product, prices, policy).best(p_convert)


@dataclass(slots=True)
class SampledView:
    """What :func:`thompson_prices` needs of one view: its product, price grid, model estimates and posterior."""

    product: Product
    prices: np.ndarray
    p_convert: np.ndarray
    posterior_mean: np.ndarray
    posterior_std: np.ndarray
    draw_key: str


def thompson_price(
    product: Product,
    prices: np.ndarray,
    p_convert: np.ndarray,
    posterior_mean: np.ndarray,
    posterior_std: np.ndarray,
    draw_key: str,
    policy: PricingPolicy,
    experiment: PricingExperiment,
) -> PriceChoice:
    """A price drawn by Thompson sampling on expected margin, with its propensity.

    Parameters
    ----------
    p_convert
        The model's purchase probability at each price (reported with the choice).
    posterior_mean, posterior_std
        Each price point's conversion posterior (model prior plus observed outcomes).
    draw_key
        Picks the event's draws (its ``event_id``: a redelivered event draws the same price).

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=100,
    ...             unit_cost=50, min_price=80, max_price=120, stock=1)
    >>> prices, pc = np.array([80.0, 100.0, 120.0]), np.array([0.06, 0.03, 0.01])
    >>> c = thompson_price(p, prices, pc, pc, np.full(3, 1e-4), "e", PricingPolicy(), PricingExperiment())
    >>> c.price, c.propensity, c.reasons
    (80.0, 1.0, ('optimised',))
    """
    views = [SampledView(product, prices, p_convert, posterior_mean, posterior_std, draw_key)]
    return thompson_prices(views, policy, experiment)[0]


def thompson_prices(
    views: Sequence[SampledView], policy: PricingPolicy, experiment: PricingExperiment
) -> list[PriceChoice]:
    """:func:`thompson_price` for a micro-batch of views: the draws of all of them in one :func:`thompson_picks_packed`.

    Views with no price above the margin floor get list price (``margin_floor``), as one at a time.
    """
    if not views:
        return []
    return thompson_plan_prices(
        [PricePlan.of(view.product, view.prices, policy) for view in views], [view.p_convert for view in views],
        np.concatenate([view.posterior_mean for view in views]), np.concatenate([view.posterior_std for view in views]),
        [view.draw_key for view in views], experiment,
    )  # fmt: skip


def thompson_plan_prices(
    plans: Sequence[PricePlan],
    p_converts: Sequence[np.ndarray],
    posterior_mean: np.ndarray,
    posterior_std: np.ndarray,
    draw_keys: Sequence[str],
    experiment: PricingExperiment,
) -> list[PriceChoice]:
    """:func:`thompson_prices` of views given by their plans, each view's posterior packed after the one before's.

    View ``i`` owns the next ``len(plans[i].prices)`` entries of ``posterior_mean`` and
    ``posterior_std`` (as :func:`~agents.pricing.bandit.posterior` returns them for the
    views' estimates end to end), so the batch is never split into per-view arrays.
    """
    choices: dict[int, PriceChoice] = {}
    sampled = [index for index, plan in enumerate(plans) if plan.drawable]
    mean, std = posterior_mean, posterior_std
    if len(sampled) < len(plans):
        keep = np.repeat([plan.drawable for plan in plans], [len(plan.prices) for plan in plans])
        mean, std = mean[keep], std[keep]
        for index, plan in enumerate(plans):
            if not plan.drawable:
                choices[index] = plan.list_price(p_converts[index], Reason.MARGIN_FLOOR)
    if sampled:
        drawn = [plans[i] for i in sampled]
        widths = [len(plan.prices) for plan in drawn]
        picks = thompson_picks_packed(
            mean, std, np.concatenate([plan.payoff for plan in drawn]), np.concatenate([plan.allowed for plan in drawn]),
            widths, [normal_draws(experiment.propensity_draws, width, experiment.name, draw_keys[i])
                     for i, width in zip(sampled, widths, strict=True)],
        )  # fmt: skip
        for index, plan, pick in zip(sampled, drawn, picks, strict=True):
            why = Reason.OPTIMISED if pick.greedy else Reason.EXPLORED
            choices[index] = plan.choice(pick.index, p_converts[index], why, pick.propensity)
    return [choices[index] for index in range(len(plans))]


def fixed_price(strategy: ArmStrategy, product: Product, prices: np.ndarray, p_convert: np.ndarray,
                policy: PricingPolicy) -> PriceChoice:  # fmt: skip
    """The price of a strategy that draws nothing: list price for ``list_price``, the margin optimum otherwise.

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=100,
    ...             unit_cost=50, min_price=80, max_price=120, stock=1)
    >>> prices, pc = np.array([80.0, 100.0, 120.0]), np.array([0.06, 0.03, 0.01])
    >>> [fixed_price(s, p, prices, pc, PricingPolicy()).price for s in ("list_price", "optimise")]
    [100.0, 80.0]
    """
    return fixed_plan_price(strategy, PricePlan.of(product, prices, policy), p_convert)


def fixed_plan_price(strategy: ArmStrategy, plan: PricePlan, p_convert: np.ndarray) -> PriceChoice:
    """:func:`fixed_price` of a view given by its plan."""
    if strategy == "list_price":
        return plan.list_price(p_convert, Reason.LIST_PRICE)
    return plan.best(p_convert)


def price_for_strategy(
    strategy: ArmStrategy,
    product: Product,
    prices: np.ndarray,
    p_convert: np.ndarray,
    posterior_mean: np.ndarray,
    posterior_std: np.ndarray,
    draw_key: str,
    policy: PricingPolicy,
) -> PriceChoice:
    """The price an arm's strategy picks among ``prices`` (the grid, or just list price for ``list_price``).

    The posterior and ``draw_key`` (the event's id) only matter to ``thompson``.

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=100,
    ...             unit_cost=50, min_price=80, max_price=120, stock=1)
    >>> prices, pc = np.array([80.0, 100.0, 120.0]), np.array([0.06, 0.03, 0.01])
    >>> [price_for_strategy(s, p, prices, pc, pc, np.zeros(3), "e", PricingPolicy()).price
    ...  for s in ("optimise", "thompson", "list_price")]
    [80.0, 80.0, 100.0]
    """
    if strategy != "thompson":
        return fixed_price(strategy, product, prices, p_convert, policy)
    return thompson_price(
        product, prices, p_convert, posterior_mean, posterior_std, draw_key, policy, policy.experiment
    )


def fallback_price(product: Product) -> PriceChoice:
    """List price, used when the conversion model cannot answer."""
    return PriceChoice(float(product.list_price), 0.0, (Reason.LIST_PRICE.value,))
