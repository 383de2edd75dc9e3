"""Velocity of an order: windowed counters from the velocity table plus what the profile knows of the user.

Orders, amounts, distinct cards, shipping countries and IPs in the last hour
and 24 hours come from the windowed velocity table (bucket windows, see
:mod:`agents.profiles.buckets`); the usual amount, whether the card is new,
prior orders and chargebacks come from the profile *before* the order,
excluding any remembered order with the same ``order_id``. A redelivered order
gets the window counts remembered at its first delivery (``OrderMark.windows``):
the table now also holds orders that arrived after it, which its first decision
did not see.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

from agents.profiles.buckets import VelocityBucket
from agents.profiles.model import OrderMark, Profile, evolve
from schemas.events import Order
from streams.logs import hash_pii

MS_PER_S = 1000
WINDOW_FIELDS: tuple[str, ...] = (
    "orders_1h", "orders_24h", "amount_1h", "amount_24h", "cards_24h", "ship_countries_24h", "ips_24h",
)  # fmt: skip
"""The :class:`Velocity` fields that come from the windowed velocity table."""


def order_mark(order: Order, pii_key: str) -> OrderMark:
    """The order as remembered: card and IP only as keyed hashes (HMAC with ``pii_key``).

    Examples
    --------
    >>> from schemas.codec import decode_event
    >>> o = decode_event(b'{"kind":"order","event_id":"e","ts":1700000000000,"user_id":"u","channel":"web",'
    ...                  b'"order_id":"o","items":[{"product_id":"p","quantity":1,"unit_price":9}],"amount":9,'
    ...                  b'"currency":"USD","payment":{"method":"card","card_hash":"c"},"ip_hash":"i"}',
    ...                  "events.orders")
    >>> m = order_mark(o, "k" * 16)
    >>> m.ts_ms, m.amount, m.card == hash_pii("c", "k" * 16), m.ip != "i"
    (1700000000000, 9.0, True, True)
    """
    return OrderMark(
        order_id=order.order_id,
        ts_ms=int(order.ts.timestamp() * MS_PER_S),
        amount=order.amount,
        card=hash_pii(order.payment.card_hash, pii_key) if order.payment.card_hash else None,
        ip=hash_pii(order.ip_hash, pii_key) if order.ip_hash else None,
        billing_country=order.billing_country,
        shipping_country=order.shipping_country,
    )


@dataclass(frozen=True, slots=True)
class Velocity:
    """Windowed counters of one order (the order itself included)."""

    orders_1h: int
    orders_24h: int
    amount_1h: float
    amount_24h: float
    cards_24h: int
    ship_countries_24h: int
    ips_24h: int
    prior_orders: int
    usual_amount: float | None
    new_card: bool
    prior_chargebacks: int


def window_counts(hour: VelocityBucket, day: VelocityBucket) -> tuple[float, ...]:
    """The :data:`WINDOW_FIELDS` of an order from its 1 h and 24 h windows.

    Examples
    --------
    >>> window_counts(VelocityBucket(2, 30.0, ("A",)), VelocityBucket(3, 80.0, ("A", "B"), ("US",)))
    (2, 3, 30.0, 80.0, 2, 1, 0)
    """
    return (hour.orders, day.orders, hour.amount, day.amount, len(day.cards), len(day.ship_countries), len(day.ips))


def _velocity(before: Profile | None, mark: OrderMark, counts: tuple[float, ...]) -> Velocity:
    history = before.history if before is not None else ()
    prior = [m for m in history if m.order_id != mark.order_id and m.ts_ms <= mark.ts_ms]
    seen_before = any(m.order_id == mark.order_id for m in history)
    known_cards = {c for c, first in (before.cards if before else {}).items() if first != mark.order_id}
    prior_orders = (before.orders if before else 0) - (1 if seen_before else 0)
    orders_1h, orders_24h, amount_1h, amount_24h, cards_24h, countries_24h, ips_24h = counts
    return Velocity(
        orders_1h=int(orders_1h),
        orders_24h=int(orders_24h),
        amount_1h=float(amount_1h),
        amount_24h=float(amount_24h),
        cards_24h=int(cards_24h),
        ship_countries_24h=int(countries_24h),
        ips_24h=int(ips_24h),
        prior_orders=max(0, prior_orders),
        usual_amount=float(statistics.median(m.amount for m in prior)) if prior else None,
        new_card=mark.card is not None and bool(known_cards) and mark.card not in known_cards,
        prior_chargebacks=before.chargebacks if before else 0,
    )


def order_velocity(before: Profile | None, mark: OrderMark, hour: VelocityBucket, day: VelocityBucket) -> Velocity:
    """Velocity of the order ``mark`` given the profile before it and its 1 h / 24 h windows (which count it).

    Examples
    --------
    >>> from agents.profiles.model import empty_profile
    >>> from dataclasses import replace
    >>> t = 1_700_000_000_000
    >>> prior = tuple(OrderMark(f"o{i}", t - i * 60_000, 20.0, card="A", shipping_country="US") for i in range(1, 5))
    >>> p = replace(empty_profile("u", 0), orders=4, history=prior, cards={"A": "o4"})
    >>> hour = VelocityBucket(5, 480.0, ("A", "B"), ("NG", "US"))
    >>> v = order_velocity(p, OrderMark("o5", t, 400.0, card="B", shipping_country="NG"), hour, hour)
    >>> v.orders_1h, v.cards_24h, v.ship_countries_24h, v.usual_amount, v.new_card, v.amount_1h
    (5, 2, 2, 20.0, True, 480.0)
    >>> order_velocity(replace(p, history=(*prior, OrderMark("o5", t, 400.0, card="B")),
    ...                        cards={"A": "o4", "B": "o5"}), OrderMark("o5", t, 400.0, card="B"), hour, hour).new_card
    True
    """
    return _velocity(before, mark, window_counts(hour, day))


def remembered_velocity(before: Profile | None, mark: OrderMark) -> Velocity | None:
    """The velocity of a redelivered order from the window counts remembered at its first delivery (else None).

    Examples
    --------
    >>> from agents.profiles.model import empty_profile
    >>> known = OrderMark("o1", 5, 9.0, windows=(1, 1, 9.0, 9.0, 0, 0, 0))
    >>> p = evolve(empty_profile("u", 0), {"orders": 1, "history": (known,)})
    >>> remembered_velocity(p, OrderMark("o1", 5, 9.0)).orders_1h, remembered_velocity(p, OrderMark("o2", 5, 9.0))
    (1, None)
    """
    for known in reversed(before.history if before is not None else ()):
        if known.order_id == mark.order_id:
            return _velocity(before, mark, known.windows) if known.windows else None
    return None


def remember_windows(profile: Profile, order_id: str, velocity: Velocity) -> Profile:
    """The profile with ``velocity``'s window counts kept on the order's history entry.

    Examples
    --------
    >>> from agents.profiles.model import empty_profile
    >>> p = evolve(empty_profile("u", 0), {"history": (OrderMark("o1", 5, 9.0),)})
    >>> v = Velocity(1, 1, 9.0, 9.0, 0, 0, 0, prior_orders=0, usual_amount=None, new_card=False, prior_chargebacks=0)
    >>> remember_windows(p, "o1", v).history[0].windows
    (1, 1, 9.0, 9.0, 0, 0, 0)
    """
    history = list(profile.history)
    for index in range(len(history) - 1, -1, -1):
        if history[index].order_id == order_id:
            counts = tuple(getattr(velocity, name) for name in WINDOW_FIELDS)
            history[index] = replace(history[index], windows=counts)
            return evolve(profile, {"history": tuple(history)})
    return profile
