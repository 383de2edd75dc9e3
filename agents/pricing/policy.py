"""Pure pricing rules: candidate price grid and the expected-margin choice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemas.catalog import Product
from schemas.reasons import Reason
from streams.settings import PricingPolicy


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

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=100,
    ...             unit_cost=50, min_price=90, max_price=110, stock=1)
    >>> price_grid(p, PricingPolicy(grid_points=3)).tolist()
    [90.0, 100.0, 110.0]
    """
    low, high = price_bounds(product, policy)
    grid = np.linspace(low, high, policy.grid_points)
    return np.unique(np.round(np.append(grid, product.list_price), 2).clip(low, high))


@dataclass(frozen=True)
class PriceChoice:
    """A chosen price, its purchase probability and the reasons."""

    price: float
    p_convert: float
    reasons: tuple[str, ...]


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
    margin = prices - product.unit_cost
    ok = margin >= policy.min_margin * prices
    if not ok.any():
        list_index = int(np.argmin(np.abs(prices - product.list_price)))
        return PriceChoice(float(prices[list_index]), float(p_convert[list_index]), (Reason.MARGIN_FLOOR.value,))
    value = np.where(ok, p_convert * margin, -np.inf)
    best = int(np.argmax(value))
    low, high = price_bounds(product, policy)
    reasons = [Reason.OPTIMISED.value]
    if prices[best] in (low, high) and (low, high) != (product.min_price, product.max_price):
        reasons.append(Reason.MAX_CHANGE.value)
    return PriceChoice(float(prices[best]), float(p_convert[best]), tuple(reasons))


def fallback_price(product: Product) -> PriceChoice:
    """List price, used when the conversion model cannot answer."""
    return PriceChoice(float(product.list_price), 0.0, (Reason.LIST_PRICE.value,))
