"""Decisions published to ``decisions.bids``, ``decisions.prices`` and ``decisions.fraud``."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import Field

from schemas.common import Category, Currency, Id, Money, PositiveMoney, Probability, Record

Scene = Literal["search", "browse", "product", "cart", "checkout", "post_purchase"]
DecisionType = Literal["bid", "price", "fraud"]
FraudAction = Literal["allow", "review", "block"]


def decision_id_for(event_id: str, decision_type: DecisionType) -> str:
    """Deterministic id of the decision of one type about one event.

    A redelivered event yields the same id, so consumers can deduplicate.

    Examples
    --------
    >>> decision_id_for("e-1", "bid") == decision_id_for("e-1", "bid")
    True
    >>> decision_id_for("e-1", "bid") != decision_id_for("e-1", "price")
    True
    >>> decision_id_for("e-1", "fraud")
    'fraud-07d744e4ceba9d94fb740d50'
    """
    digest = hashlib.blake2b(f"{decision_type}\x1f{event_id}".encode(), digest_size=12).hexdigest()
    return f"{decision_type}-{digest}"


class Decision(Record):
    """Fields every decision carries."""

    decision_id: Id
    event_id: Id
    user_id: Id
    decided_at: datetime
    latency_ms: float = Field(ge=0, description="Event time to decision time, milliseconds.")
    scene: Scene
    model_version: str = Field(description="'<model>:<version>' that decided, or 'fallback'.")
    degraded: bool = Field(description="True when a fallback decided instead of the model.")
    reasons: list[str] = Field(default_factory=list, description="Stable reason codes (schemas.reasons.Reason).")


class BidDecision(Decision):
    """One per event carrying an ``ad_slot``; ``bid_cpm = 0`` means no bid."""

    slot_id: Id
    bid_cpm: Money
    currency: Currency
    campaign_id: Id | None = None
    ad_id: Id | None = None
    p_ctr: Probability
    query_category: Category | None = None
    language: str | None = None


class Experiment(Record):
    """The A/B arm a decision was made under, with its logged propensity."""

    name: str
    arm: str
    propensity: Probability


class PriceDecision(Decision):
    """One per ``product_view`` of a catalogued product."""

    product_id: Id
    price: PositiveMoney
    list_price: PositiveMoney
    currency: Currency
    p_convert: Probability
    experiment: Experiment | None = None


class FraudDecision(Decision):
    """One per ``order``."""

    order_id: Id
    action: FraudAction
    risk_score: Probability
