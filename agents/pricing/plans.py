"""What pricing derives from a catalogued product alone, kept while the product stays the same.

A view's candidate prices, their margins and guardrails, the bandit's count keys and the
product's part of the conversion features depend only on the product and the pricing
policy, yet were rebuilt for every view. The cache keeps them per product id and
rebuilds an entry when the catalog holds a new record for that id (a new object: catalog
records are immutable, and the entry holds its product, so the identity check is safe).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.features import conversion_product_rows
from agents.pricing.bandit import count_keys
from agents.pricing.policy import PricePlan, price_grid
from schemas.catalog import Product
from streams.settings import PricingPolicy


@dataclass(slots=True)
class Candidates:
    """A product's candidate prices under one strategy: the plan, the conversion rows' product part, the count keys."""

    plan: PricePlan
    rows: np.ndarray
    keys: list[tuple[str, int]]

    @classmethod
    def of(cls, product: Product, prices: np.ndarray, policy: PricingPolicy) -> Candidates:
        """The candidates of ``product`` at ``prices``.

        Examples
        --------
        >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=10,
        ...             unit_cost=5, min_price=8, max_price=12, stock=3)
        >>> c = Candidates.of(p, np.array([8.0, 10.0]), PricingPolicy())
        >>> c.plan.values, c.rows.shape, c.keys
        ([8.0, 10.0], (2, 18), [('p', 800), ('p', 1000)])
        """
        return cls(PricePlan.of(product, prices, policy), conversion_product_rows(product, prices),
                   count_keys(product.product_id, prices))  # fmt: skip


@dataclass
class PricePlans:
    """Each product's :class:`Candidates` on its price grid and at list price alone, for one pricing policy.

    Examples
    --------
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=10,
    ...             unit_cost=5, min_price=8, max_price=12, stock=3)
    >>> plans, policy = PricePlans(), PricingPolicy(grid_points=3)
    >>> plans.grid(p, policy).plan.values, plans.list_price(p, policy).plan.values
    ([8.0, 10.0, 12.0], [10.0])
    >>> plans.grid(p, policy) is plans.grid(p, policy), plans.grid(p.model_copy(), policy) is plans.grid(p, policy)
    (True, False)
    """

    policy: PricingPolicy | None = None
    _grids: dict[str, Candidates] = field(default_factory=dict)
    _lists: dict[str, Candidates] = field(default_factory=dict)

    def grid(self, product: Product, policy: PricingPolicy) -> Candidates:
        """``product``'s candidates on :func:`~agents.pricing.policy.price_grid`."""
        found = self._grids.get(product.product_id)
        if found is None or found.plan.product is not product or policy is not self.policy:
            self._use(policy)
            found = self._grids[product.product_id] = Candidates.of(product, price_grid(product, policy), policy)
        return found

    def list_price(self, product: Product, policy: PricingPolicy) -> Candidates:
        """``product``'s candidates when list price is the only one (the ``list_price`` arm)."""
        found = self._lists.get(product.product_id)
        if found is None or found.plan.product is not product or policy is not self.policy:
            self._use(policy)
            prices = np.array([product.list_price])
            prices.flags.writeable = False
            found = self._lists[product.product_id] = Candidates.of(product, prices, policy)
        return found

    def _use(self, policy: PricingPolicy) -> None:
        if policy is not self.policy:
            self.policy = policy
            self._grids.clear()
            self._lists.clear()
