"""Price decisions for a micro-batch of product views: one ``conversion`` request per batch."""

from __future__ import annotations

import numpy as np

from agents.context import DecisionContext, Incoming
from agents.features import conversion_features
from agents.pricing.policy import PriceChoice, choose_price, fallback_price, price_grid
from agents.scenes import scene_of
from agents.scoring import ScoringUnavailable
from schemas.catalog import Product
from schemas.decisions import PriceDecision, decision_id_for

MODEL = "conversion"


async def decide_prices(items: list[Incoming], ctx: DecisionContext) -> list[PriceDecision]:
    """One price decision per ``product_view`` of a catalogued product (others get none)."""
    policy = ctx.settings.pricing
    planned: list[tuple[Incoming, Product, np.ndarray, int]] = []
    blocks: list[np.ndarray] = []
    row = 0
    for incoming in items:
        product = ctx.catalog.products.get(incoming.event.product_id)
        if product is None:
            continue
        grid = price_grid(product, policy)
        blocks.append(conversion_features(channel=incoming.event.channel, ts=incoming.event.ts, product=product, prices=grid))
        planned.append((incoming, product, grid, row))
        row += len(grid)
    if not planned:
        return []
    proba: np.ndarray | None = None
    model_version, failure = "fallback", ""
    try:
        scores = await ctx.scorer.score(MODEL, np.concatenate(blocks))
        proba, model_version = scores.proba, scores.model_version
    except ScoringUnavailable as exc:
        failure = exc.reason.value
    now = ctx.clock()
    decisions = []
    for incoming, product, grid, start in planned:
        event = incoming.event
        if proba is None:
            choice = fallback_price(product)
            choice = PriceChoice(choice.price, choice.p_convert, (failure, *choice.reasons))
        else:
            choice = choose_price(product, grid, proba[start : start + len(grid)], policy)
        decisions.append(
            PriceDecision(
                decision_id=decision_id_for(event.event_id, "price"),
                event_id=event.event_id,
                user_id=event.user_id,
                decided_at=now,
                latency_ms=ctx.latency_ms(incoming, now),
                scene=scene_of(event.kind),
                model_version=model_version,
                degraded=proba is None,
                reasons=list(choice.reasons),
                product_id=product.product_id,
                price=choice.price,
                list_price=product.list_price,
                currency=product.currency,
                p_convert=min(1.0, max(0.0, choice.p_convert)),
            )
        )
    return decisions
