"""Fraud decisions for a micro-batch of orders: one ``fraud`` request per served model.

The model's score combines with the rules the order hits (velocity, computed
while staging from the windowed velocity table and the user's profile; static
rules) by noisy-OR; the thresholds come from the order's channel or scene. Reasons: the risk level, the rules hit, then the model inputs
that raise the score most (occlusion probes sent in the same request).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.context import DecisionContext
from agents.features import N_FRAUD_FEATURES
from agents.fraud.explain import feature_row, inputs_of, probes, top_features
from agents.fraud.policy import (
    combine_risk,
    decide_fraud,
    fallback_action,
    risk_reason,
    rule_score,
    rules_hit,
    thresholds_for,
)
from agents.grouped_scoring import score_blocks
from agents.learning.loop import FRAUD
from agents.profiles.velocity import Velocity
from agents.staging import Staged
from schemas.decisions import FraudDecision, decision_id_for
from schemas.events import Order
from schemas.reasons import Reason


def order_features(order: Order) -> list[float]:
    """The fraud model's input row for one order."""
    return feature_row(inputs_of(order))


@dataclass(frozen=True)
class _Case:
    staged: Staged
    velocity: Velocity
    hits: list[Reason]
    probe_reasons: list[Reason]
    rows: np.ndarray


def _plan(staged: Staged, ctx: DecisionContext) -> _Case:
    policy = ctx.settings.fraud
    order: Order = staged.event
    velocity = staged.velocity
    if velocity is None:
        raise ValueError(f"order {order.order_id}: staged without velocity (stage_batch computes it)")
    inputs = inputs_of(order)
    probed = probes(inputs, velocity.usual_amount, policy) if policy.explain_top_k > 0 else []
    rows = np.asarray(
        [feature_row(inputs), *(feature_row(p) for _, p in probed)], dtype=np.float32
    ).reshape(-1, N_FRAUD_FEATURES)
    return _Case(staged, velocity, rules_hit(order, velocity, policy), [r for r, _ in probed], rows)


async def decide_fraud_batch(items: list[Staged], ctx: DecisionContext) -> list[FraudDecision]:
    """One fraud decision per order."""
    if not items:
        return []
    policy, routes = ctx.settings.fraud, ctx.settings.scenes
    cases = [_plan(staged, ctx) for staged in items]
    scored = await score_blocks(ctx.scorer, [(routes.route(c.staged.scene).fraud_model, c.rows) for c in cases])
    now = ctx.clock()
    decisions = []
    for case, result in zip(cases, scored, strict=True):
        order: Order = case.staged.event
        hits = [h.value for h in case.hits]
        if result.proba is None:
            risk = rule_score(case.hits, policy.rule_weights)
            action = fallback_action(risk, policy)
            reasons = [result.failure, Reason.FALLBACK_RULE.value, *hits]
        else:
            model_score = float(min(1.0, max(0.0, result.proba[0])))
            risk = combine_risk(model_score, case.hits, policy.rule_weights)
            action = decide_fraud(risk, thresholds_for(order.channel, routes.route(case.staged.scene), policy))
            named = top_features(
                model_score, list(zip(case.probe_reasons, (float(p) for p in result.proba[1:]), strict=True)),
                policy.explain_top_k, policy.explain_min_contribution,
            )  # fmt: skip
            reasons = [risk_reason(action).value, *hits, *(r.value for r in named)]
            if result.failure:
                reasons[:0] = [result.failure, Reason.ONLINE_FALLBACK.value]
            if ctx.learning is not None:
                decision_id = decision_id_for(order.event_id, "fraud")
                ctx.learning.scored_row(FRAUD, order.order_id, case.rows, 0, result, decision_id, order.ts)
        decisions.append(
            FraudDecision(
                decision_id=decision_id_for(order.event_id, "fraud"),
                event_id=order.event_id,
                user_id=order.user_id,
                decided_at=now,
                latency_ms=ctx.latency_ms(case.staged.incoming, now),
                scene=case.staged.scene,
                model_version=result.model_version,
                degraded=result.degraded,
                reasons=reasons,
                order_id=order.order_id,
                action=action,
                risk_score=risk,
            )
        )
    return decisions
