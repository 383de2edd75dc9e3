"""Velocity of a user's orders: counts, distinct cards and countries, and amounts in sliding windows.

Computed from the profile *before* the order plus the order itself, excluding any
remembered order with the same ``order_id``; so a redelivered order gets the same
velocity as its first delivery.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from agents.profiles.model import MONEY_DECIMALS, OrderMark, Profile
from schemas.events import Order
from streams.logs import hash_pii

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MS_PER_S = 1000


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


def order_velocity(before: Profile | None, mark: OrderMark) -> Velocity:
    """Velocity of the order ``mark`` given the profile before it.

    Examples
    --------
    >>> from agents.profiles.model import empty_profile
    >>> from dataclasses import replace
    >>> t = 1_700_000_000_000
    >>> prior = tuple(OrderMark(f"o{i}", t - i * 60_000, 20.0, card="A", shipping_country="US") for i in range(1, 5))
    >>> p = replace(empty_profile("u", 0), orders=4, history=prior, cards={"A": "o4"})
    >>> v = order_velocity(p, OrderMark("o5", t, 400.0, card="B", shipping_country="NG"))
    >>> v.orders_1h, v.cards_24h, v.ship_countries_24h, v.usual_amount, v.new_card, v.amount_1h
    (5, 2, 2, 20.0, True, 480.0)
    >>> order_velocity(replace(p, history=(*prior, OrderMark("o5", t, 400.0, card="B")),
    ...                        cards={"A": "o4", "B": "o5"}), OrderMark("o5", t, 400.0, card="B")).new_card
    True
    """
    history = before.history if before is not None else ()
    prior = [m for m in history if m.order_id != mark.order_id and m.ts_ms <= mark.ts_ms]
    seen_before = any(m.order_id == mark.order_id for m in history)
    day = [m for m in prior if mark.ts_ms - m.ts_ms < DAY_MS] + [mark]
    hour = [m for m in day if mark.ts_ms - m.ts_ms < HOUR_MS]
    known_cards = {c for c, first in (before.cards if before else {}).items() if first != mark.order_id}
    prior_orders = (before.orders if before else 0) - (1 if seen_before else 0)
    return Velocity(
        orders_1h=len(hour),
        orders_24h=len(day),
        amount_1h=round(sum(m.amount for m in hour), MONEY_DECIMALS),
        amount_24h=round(sum(m.amount for m in day), MONEY_DECIMALS),
        cards_24h=len({m.card for m in day if m.card}),
        ship_countries_24h=len({m.shipping_country for m in day if m.shipping_country}),
        ips_24h=len({m.ip for m in day if m.ip}),
        prior_orders=max(0, prior_orders),
        usual_amount=float(statistics.median(m.amount for m in prior)) if prior else None,
        new_card=mark.card is not None and bool(known_cards) and mark.card not in known_cards,
        prior_chargebacks=before.chargebacks if before else 0,
    )
