"""Pure fraud rules: risk score → action, the rules an order hits, and the fallback rule score."""

from __future__ import annotations

from schemas.decisions import FraudAction
from schemas.events import Order
from schemas.reasons import Reason
from streams.settings import FraudPolicy

HIGH_AMOUNT = 1_000.0
NEW_ACCOUNT_DAYS = 1
RULE_WEIGHTS: dict[Reason, float] = {
    Reason.NEW_ACCOUNT_HIGH_AMOUNT: 0.4,
    Reason.COUNTRY_MISMATCH: 0.25,
    Reason.NO_CARD_HASH: 0.15,
    Reason.HIGH_AMOUNT: 0.2,
}
"""Weight of each rule in the fallback score used when the model is unavailable."""


def decide_fraud(risk_score: float, policy: FraudPolicy) -> FraudAction:
    """Map a calibrated risk score to an action.

    Examples
    --------
    >>> p = FraudPolicy(review_at=0.3, block_at=0.9)
    >>> [decide_fraud(s, p) for s in (0.05, 0.5, 0.95)]
    ['allow', 'review', 'block']
    """
    if risk_score >= policy.block_at:
        return "block"
    return "review" if risk_score >= policy.review_at else "allow"


def rules_hit(order: Order) -> list[Reason]:
    """Stable codes of the risk rules an order triggers.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> o = Order(kind="order", event_id="e", ts=datetime(2026, 1, 1, tzinfo=UTC), user_id="u", channel="web",
    ...           order_id="o", items=[{"product_id": "p", "quantity": 1, "unit_price": 1500}], amount=1500,
    ...           currency="USD", payment={"method": "card"}, billing_country="US", shipping_country="NG",
    ...           account_age_days=0)
    >>> [r.value for r in rules_hit(o)]
    ['new_account_high_amount', 'country_mismatch', 'no_card_hash', 'high_amount']
    """
    hits = []
    new_account = order.account_age_days is not None and order.account_age_days < NEW_ACCOUNT_DAYS
    if new_account and order.amount >= HIGH_AMOUNT / 4:
        hits.append(Reason.NEW_ACCOUNT_HIGH_AMOUNT)
    if order.billing_country and order.shipping_country and order.billing_country != order.shipping_country:
        hits.append(Reason.COUNTRY_MISMATCH)
    if order.payment.method == "card" and not order.payment.card_hash:
        hits.append(Reason.NO_CARD_HASH)
    if order.amount >= HIGH_AMOUNT:
        hits.append(Reason.HIGH_AMOUNT)
    return hits


def rule_score(hits: list[Reason]) -> float:
    """Fallback risk in 0..1 from the rules hit (used when the model cannot answer).

    Examples
    --------
    >>> rule_score([Reason.COUNTRY_MISMATCH, Reason.NO_CARD_HASH])
    0.4
    """
    return round(min(1.0, sum(RULE_WEIGHTS.get(h, 0.0) for h in hits)), 6)


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
