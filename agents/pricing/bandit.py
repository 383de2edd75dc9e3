"""Observed conversions per (product, price point), joined from orders that follow price views.

Each price decision is an exposure; an order by the same user containing the
product within the window converts the latest exposure. Counts feed the Beta
posterior of each price point (prior: the conversion model's estimate). The
state lives in memory per worker; exposures expire after the window, counts stay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

CENTS_PER_UNIT = 100
PROBABILITY_FLOOR = 1e-6
"""Prior means are kept inside (0, 1) so both Beta parameters stay positive."""


def price_key(price: float) -> int:
    """Price points are counted by their value in whole cents.

    Examples
    --------
    >>> price_key(19.999), price_key(20)
    (2000, 2000)
    """
    return int(round(price * CENTS_PER_UNIT))


def count_keys(product_id: str, prices: np.ndarray) -> list[tuple[str, int]]:
    """The (product, price point) keys :class:`PriceBandit` counts ``prices`` under, one per price.

    Examples
    --------
    >>> count_keys("p1", np.array([19.999, 22.0]))
    [('p1', 2000), ('p1', 2200)]
    """
    points = np.rint(np.asarray(prices) * CENTS_PER_UNIT).astype(np.int64).tolist()
    return [(product_id, point) for point in points]


@dataclass
class Exposure:
    """One price shown to one user."""

    user_id: str
    product_id: str
    point: int
    ts_ms: int
    converted: bool = False


@dataclass
class PendingExposures:
    """Exposures chosen earlier in a micro-batch and not recorded yet: those one-at-a-time deciding had recorded.

    ``shown`` counts them per (product, price point); ``points`` holds each one's (product, price point) by decision id.
    """

    shown: Counter[tuple[str, int]] = field(default_factory=Counter)
    points: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass
class PriceBandit:
    """Shown and converted counts per (product, price point), and the exposures awaiting an order.

    Examples
    --------
    >>> b = PriceBandit()
    >>> b.record_exposure("d1", "u1", "p1", 20.0, ts_ms=0)
    >>> b.record_exposure("d1", "u1", "p1", 20.0, ts_ms=0)  # redelivered: counted once
    >>> b.record_exposure("d2", "u2", "p1", 22.0, ts_ms=5)
    >>> b.record_order("u1", ["p1", "p9"], ts_ms=100, window_ms=1000)
    1
    >>> [a.tolist() for a in b.counts("p1", np.array([20.0, 22.0, 24.0]))]
    [[1, 1, 0], [1, 0, 0]]
    >>> [a.tolist() for a in b.counts("p1", np.array([20.0, 22.0]), excluding="d1")]
    [[0, 1], [0, 0]]
    """

    shown: dict[tuple[str, int], int] = field(default_factory=dict)
    converted: dict[tuple[str, int], int] = field(default_factory=dict)
    exposures: dict[str, Exposure] = field(default_factory=dict)
    latest: dict[tuple[str, str], str] = field(default_factory=dict)

    def record_exposure(self, decision_id: str, user_id: str, product_id: str, price: float, ts_ms: int) -> None:
        """Count a price shown (once per decision id)."""
        if decision_id in self.exposures:
            return
        point = price_key(price)
        self.exposures[decision_id] = Exposure(user_id, product_id, point, ts_ms)
        self.latest[(user_id, product_id)] = decision_id
        key = (product_id, point)
        self.shown[key] = self.shown.get(key, 0) + 1

    def record_order(self, user_id: str, product_ids: Iterable[str], ts_ms: int, window_ms: int) -> int:
        """Convert the user's latest exposure of each ordered product within the window; returns how many."""
        credited = 0
        for product_id in dict.fromkeys(product_ids):
            decision_id = self.latest.get((user_id, product_id))
            exposure = self.exposures.get(decision_id) if decision_id else None
            if exposure is None or exposure.converted or not 0 <= ts_ms - exposure.ts_ms <= window_ms:
                continue
            exposure.converted = True
            key = (product_id, exposure.point)
            self.converted[key] = self.converted.get(key, 0) + 1
            credited += 1
        return credited

    def hold_exposure(self, pending: PendingExposures, decision_id: str, product_id: str, price: float) -> None:
        """Count a price shown into ``pending`` as :meth:`record_exposure` would count it (once per decision id).

        Examples
        --------
        >>> b, pending = PriceBandit(), PendingExposures()
        >>> b.hold_exposure(pending, "d1", "p1", 20.0)
        >>> b.hold_exposure(pending, "d1", "p1", 20.0)  # the same event twice in a batch: counted once
        >>> [a.tolist() for a in b.counts("p1", np.array([20.0, 22.0]), pending=pending)]
        [[1, 0], [0, 0]]
        >>> [a.tolist() for a in b.counts("p1", np.array([20.0, 22.0]), excluding="d1", pending=pending)]
        [[0, 0], [0, 0]]
        """
        if decision_id in self.exposures or decision_id in pending.points:
            return
        point = (product_id, price_key(price))
        pending.shown[point] += 1
        pending.points[decision_id] = point

    def counts(
        self, product_id: str, prices: np.ndarray, excluding: str | None = None, pending: PendingExposures | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Shown and converted counts at each of ``prices``, leaving out decision ``excluding``'s own exposure.

        ``pending`` adds the exposures held earlier in the same micro-batch (:meth:`hold_exposure`).
        """
        return self.counts_many([count_keys(product_id, prices)], [excluding], pending)

    def counts_many(
        self, keys: Sequence[list[tuple[str, int]]], excluding: Sequence[str | None],
        pending: PendingExposures | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """:meth:`counts` of many views, packed end to end: view ``i``'s prices by their :func:`count_keys` ``keys[i]``.

        One array each for the whole micro-batch's shown and converted counts, as the
        posterior takes them, instead of two per view.

        Examples
        --------
        >>> b = PriceBandit()
        >>> b.record_exposure("d1", "u1", "p1", 20.0, ts_ms=0)
        >>> [a.tolist() for a in b.counts_many([count_keys("p1", np.array([20.0, 22.0])),
        ...                                     count_keys("p2", np.array([20.0]))], ["d2", "d3"])]
        [[1, 0, 0], [0, 0, 0]]
        """
        shown_of, converted_of = self.shown.get, self.converted.get
        held_of = pending.shown.get if pending is not None and pending.shown else None
        shown: list[int] = []
        converted: list[int] = []
        for view_keys, decision_id in zip(keys, excluding, strict=True):
            start = len(shown)
            if held_of is None:
                shown += [shown_of(key, 0) for key in view_keys]
            else:
                shown += [shown_of(key, 0) + held_of(key, 0) for key in view_keys]
            converted += [converted_of(key, 0) for key in view_keys]
            if not decision_id:
                continue
            own = self.exposures.get(decision_id)
            if own is not None and (own.product_id, own.point) in view_keys:
                at = start + view_keys.index((own.product_id, own.point))
                shown[at] -= 1
                converted[at] -= 1 if own.converted else 0
            held = pending.points.get(decision_id) if held_of is not None and pending is not None else None
            if held is not None and held in view_keys:
                shown[start + view_keys.index(held)] -= 1
        return np.array(shown, dtype=np.int64), np.array(converted, dtype=np.int64)

    def expire(self, now_ms: int, window_ms: int) -> int:
        """Forget exposures older than the window (their counts stay); returns how many.

        Examples
        --------
        >>> b = PriceBandit()
        >>> b.record_exposure("d1", "u1", "p1", 20.0, ts_ms=0)
        >>> b.expire(now_ms=2000, window_ms=1000), b.exposures, b.latest, b.shown
        (1, {}, {}, {('p1', 2000): 1})
        """
        stale = []
        for decision_id, exposure in self.exposures.items():
            if now_ms - exposure.ts_ms <= window_ms:
                break  # insertion order is (about) time order: the rest are younger
            stale.append(decision_id)
        for decision_id in stale:
            exposure = self.exposures.pop(decision_id)
            if self.latest.get((exposure.user_id, exposure.product_id)) == decision_id:
                del self.latest[(exposure.user_id, exposure.product_id)]
        return len(stale)


def posterior(
    prior_mean: np.ndarray, prior_strength: float, shown: np.ndarray, converted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each point's Beta posterior.

    The prior is ``Beta(m·n, (1 − m)·n)`` for model estimate ``m`` and strength ``n``.

    Examples
    --------
    >>> mean, std = posterior(np.array([0.01]), 1000.0, np.array([1000]), np.array([30]))
    >>> round(float(mean[0]), 3), bool(std[0] < 0.004)
    (0.02, True)
    """
    m = np.clip(np.asarray(prior_mean, dtype=np.float64), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    alpha = m * prior_strength + converted
    beta = (1 - m) * prior_strength + (shown - converted)
    total = alpha + beta
    return alpha / total, np.sqrt(alpha * beta / (total * total * (total + 1)))
