"""Fraud decisions for a micro-batch of orders: one ``fraud`` request per batch."""

from __future__ import annotations

import numpy as np

from agents.context import DecisionContext, Incoming
from agents.features import N_FRAUD_FEATURES, fraud_features
from agents.fraud.policy import decide_fraud, fallback_action, risk_reason, rule_score, rules_hit
from agents.scenes import scene_of
from agents.scoring import ScoringUnavailable
from schemas.decisions import FraudDecision, decision_id_for
from schemas.events import Order
from schemas.reasons import Reason

MODEL = "fraud"


def order_features(order: Order) -> list[float]:
    """The fraud model's input row for one order."""
    return fraud_features(
        channel=order.channel,
        ts=order.ts,
        amount=order.amount,
        n_items=len(order.items),
        account_age_days=order.account_age_days,
        payment_method=order.payment.method,
        has_card_hash=order.payment.card_hash is not None,
        billing_country=order.billing_country,
        shipping_country=order.shipping_country,
        country=order.country,
    )


async def decide_fraud_batch(items: list[Incoming], ctx: DecisionContext) -> list[FraudDecision]:
    """One fraud decision per order."""
    if not items:
        return []
    policy = ctx.settings.fraud
    rows = np.asarray([order_features(i.event) for i in items], dtype=np.float32).reshape(-1, N_FRAUD_FEATURES)
    proba: np.ndarray | None = None
    model_version, failure = "fallback", ""
    try:
        scores = await ctx.scorer.score(MODEL, rows)
        proba, model_version = scores.proba, scores.model_version
    except ScoringUnavailable as exc:
        failure = exc.reason.value
    now = ctx.clock()
    decisions = []
    for index, incoming in enumerate(items):
        order = incoming.event
        hits = [h.value for h in rules_hit(order)]
        if proba is None:
            risk = rule_score(rules_hit(order))
            action = fallback_action(risk, policy)
            reasons = [failure, Reason.FALLBACK_RULE.value, *hits]
        else:
            risk = float(min(1.0, max(0.0, proba[index])))
            action = decide_fraud(risk, policy)
            reasons = [risk_reason(action).value, *hits]
        decisions.append(
            FraudDecision(
                decision_id=decision_id_for(order.event_id, "fraud"),
                event_id=order.event_id,
                user_id=order.user_id,
                decided_at=now,
                latency_ms=ctx.latency_ms(incoming, now),
                scene=scene_of(order.kind),
                model_version=model_version,
                degraded=proba is None,
                reasons=reasons,
                order_id=order.order_id,
                action=action,
                risk_score=risk,
            )
        )
    return decisions
