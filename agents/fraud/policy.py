"""Pure fraud rules: the rules an order hits (static and velocity), how they combine with the model, and the action."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Protocol

from agents.profiles.velocity import Velocity
from schemas.decisions import FraudAction
from schemas.events import Order
from schemas.reasons import Reason
from streams.settings import FraudPolicy, FraudThresholds, SceneRoute

RISK_DECIMALS = 6


class Thresholds(Protocol):
    """Anything with ``review_at`` and ``block_at``."""

    review_at: float
    block_at: float


def decide_fraud(risk_score: float, policy: Thresholds) -> FraudAction:
    """Map a calibrated risk score to an action.

    Examples
    --------
    >>> p = FraudThresholds(review_at=0.3, block_at=0.9)
    >>> [decide_fraud(s, p) for s in (0.05, 0.5, 0.95)]
    ['allow', 'review', 'block']
    """
    if risk_score >= policy.block_at:
        return "block"
    return "review" if risk_score >= policy.review_at else "allow"


def thresholds_for(channel: str, route: SceneRoute, policy: FraudPolicy) -> FraudThresholds:
    """The thresholds for an order: the channel's, else the scene route's, else the policy's defaults.

    Examples
    --------
    >>> route = SceneRoute(fraud=FraudThresholds(review_at=0.25, block_at=0.75))
    >>> thresholds_for("store", route, FraudPolicy()).block_at, thresholds_for("web", route, FraudPolicy()).block_at
    (0.95, 0.75)
    >>> thresholds_for("web", SceneRoute(), FraudPolicy()).block_at
    0.8
    """
    if channel in policy.by_channel:
        return policy.by_channel[channel]
    return route.fraud or policy.thresholds


def static_rules(order: Order, policy: FraudPolicy) -> list[Reason]:
    """Rules the order hits on its own.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> o = Order(kind="order", event_id="e", ts=datetime(2026, 1, 1, tzinfo=UTC), user_id="u", channel="web",
    ...           order_id="o", items=[{"product_id": "p", "quantity": 1, "unit_price": 1500}], amount=1500,
    ...           currency="USD", payment={"method": "card"}, billing_country="US", shipping_country="NG",
    ...           account_age_days=0)
    >>> [r.value for r in static_rules(o, FraudPolicy())]
    ['new_account_high_amount', 'country_mismatch', 'no_card_hash', 'high_amount']
    """
    hits = []
    new_account = order.account_age_days is not None and order.account_age_days < policy.new_account_days
    if new_account and order.amount >= policy.new_account_amount:
        hits.append(Reason.NEW_ACCOUNT_HIGH_AMOUNT)
    if order.billing_country and order.shipping_country and order.billing_country != order.shipping_country:
        hits.append(Reason.COUNTRY_MISMATCH)
    if order.payment.method == "card" and not order.payment.card_hash:
        hits.append(Reason.NO_CARD_HASH)
    if order.amount >= policy.high_amount:
        hits.append(Reason.HIGH_AMOUNT)
    return hits


def velocity_rules(order: Order, velocity: Velocity, policy: FraudPolicy) -> list[Reason]:
    """Rules the order hits given the user's history (windowed velocity, usual amount, cards).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> o = Order(kind="order", event_id="e", ts=datetime(2026, 1, 1, tzinfo=UTC), user_id="u", channel="web",
    ...           order_id="o", items=[{"product_id": "p", "quantity": 1, "unit_price": 400}], amount=400,
    ...           currency="USD", payment={"method": "card", "card_hash": "h"})
    >>> v = Velocity(orders_1h=5, orders_24h=5, amount_1h=480.0, amount_24h=480.0, cards_24h=2,
    ...              ship_countries_24h=2, ips_24h=1, prior_orders=4, usual_amount=20.0, new_card=True,
    ...              prior_chargebacks=0)
    >>> [r.value for r in velocity_rules(o, v, FraudPolicy())]
    ['velocity_orders_1h', 'amount_spike', 'new_card']
    """
    hits = []
    if velocity.orders_1h > policy.max_orders_1h:
        hits.append(Reason.VELOCITY_ORDERS_1H)
    if velocity.orders_24h > policy.max_orders_24h:
        hits.append(Reason.VELOCITY_ORDERS_24H)
    if velocity.cards_24h > policy.max_cards_24h:
        hits.append(Reason.VELOCITY_CARDS_24H)
    if velocity.ship_countries_24h > policy.max_ship_countries_24h:
        hits.append(Reason.VELOCITY_COUNTRIES_24H)
    if velocity.amount_24h > policy.max_amount_24h:
        hits.append(Reason.VELOCITY_AMOUNT_24H)
    usual = velocity.usual_amount
    known_usual = velocity.prior_orders >= policy.amount_spike_min_orders and usual
    if known_usual and order.amount >= policy.amount_spike_ratio * usual:
        hits.append(Reason.AMOUNT_SPIKE)
    if velocity.new_card:
        hits.append(Reason.NEW_CARD)
    if velocity.prior_chargebacks > 0:
        hits.append(Reason.PRIOR_CHARGEBACK)
    return hits


def rules_hit(order: Order, velocity: Velocity | None, policy: FraudPolicy) -> list[Reason]:
    """Every rule the order hits: velocity rules first (the model cannot see them), then static ones."""
    return [*(velocity_rules(order, velocity, policy) if velocity else ()), *static_rules(order, policy)]


def combine_risk(model_score: float, hits: Iterable[Reason], weights: Mapping[str, float]) -> float:
    """Noisy-OR of the model's score and each rule's weight: ``1 − (1 − p) · Π(1 − w)``.

    Examples
    --------
    >>> combine_risk(0.5, [Reason.NEW_CARD], {"new_card": 0.5})
    0.75
    >>> combine_risk(0.0, [], {})
    0.0
    """
    survive = (1.0 - model_score) * math.prod(1.0 - weights.get(h.value, 0.0) for h in hits)
    return round(min(1.0, max(0.0, 1.0 - survive)), RISK_DECIMALS)


def rule_score(hits: Iterable[Reason], weights: Mapping[str, float]) -> float:
    """Fallback risk in 0..1 from the rules alone (used when the model cannot answer).

    Examples
    --------
    >>> rule_score([Reason.COUNTRY_MISMATCH, Reason.NO_CARD_HASH], {"country_mismatch": 0.5, "no_card_hash": 0.2})
    0.6
    """
    return combine_risk(0.0, hits, weights)


def risk_reason(action: FraudAction) -> Reason:
    """The risk-level code that goes with an action."""
    return {"block": Reason.HIGH_RISK, "review": Reason.MEDIUM_RISK, "allow": Reason.LOW_RISK}[action]


def fallback_action(score: float, policy: FraudPolicy) -> FraudAction:
    """Degraded decision: review above the rule threshold, else allow (never block blind).

    Examples
    --------
    >>> fallback_action(0.6, FraudPolicy(fallback_review_at=0.5)), fallback_action(0.1, FraudPolicy())
    ('review', 'allow')
    """
    return "review" if score >= policy.fallback_review_at else "allow"
