"""Price decisions for a micro-batch of product views: one ``conversion`` request per served model.

Each view is priced under its user's experiment arm: ``optimise`` (the
expected-margin maximum), ``thompson`` (a price drawn from the posterior of
each price point's conversion, prior from the model) or ``list_price``. The
decision logs the arm and the probability of its price (arm share × the
probability of the price within the arm).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from agents.context import DecisionContext
from agents.experiments import assign_arm
from agents.features import conversion_features
from agents.grouped_scoring import score_blocks
from agents.learning.loop import CONVERSION, conversion_key
from agents.pricing.bandit import posterior
from agents.pricing.policy import PriceChoice, fallback_price, price_for_strategy, price_grid
from agents.profiles.update import ts_ms
from agents.staging import Staged
from schemas.catalog import Product
from schemas.decisions import Experiment, PriceDecision, decision_id_for
from schemas.reasons import Reason
from streams.settings import ArmStrategy, ExperimentArm, Settings

PROPENSITY_DECIMALS = 6


@dataclass(frozen=True)
class _View:
    staged: Staged
    decision_id: str
    product: Product
    arm: ExperimentArm | None
    strategy: ArmStrategy
    prices: np.ndarray


def _plan(staged: Staged, product: Product, settings: Settings) -> _View:
    experiment = settings.pricing.experiment
    arm = assign_arm(staged.event.user_id, experiment.name, experiment.arms) if experiment.enabled else None
    strategy: ArmStrategy = arm.strategy if arm else "optimise"
    prices = np.array([product.list_price]) if strategy == "list_price" else price_grid(product, settings.pricing)
    return _View(staged, decision_id_for(staged.event.event_id, "price"), product, arm, strategy, prices)


def _choose(view: _View, p_convert: np.ndarray, ctx: DecisionContext) -> PriceChoice:
    policy, product = ctx.settings.pricing, view.product
    mean, std = p_convert, np.zeros_like(p_convert)
    if view.strategy == "thompson":
        shown, converted = ctx.bandit.counts(product.product_id, view.prices, excluding=view.decision_id)
        mean, std = posterior(p_convert, policy.experiment.prior_strength, shown, converted)
    draw_key = view.staged.event.event_id
    return price_for_strategy(view.strategy, product, view.prices, p_convert, mean, std, draw_key, policy)


def _experiment(view: _View, choice: PriceChoice, settings: Settings) -> Experiment | None:
    if view.arm is None:
        return None
    return Experiment(
        name=settings.pricing.experiment.name,
        arm=view.arm.name,
        propensity=round(view.arm.share * choice.propensity, PROPENSITY_DECIMALS),
    )


async def decide_prices(items: list[Staged], ctx: DecisionContext) -> list[PriceDecision]:
    """One price decision per ``product_view`` of a catalogued product (others get none)."""
    settings = ctx.settings
    views = []
    for staged in items:
        product = ctx.catalog.products.get(staged.event.product_id)
        if product is not None:
            views.append(_plan(staged, product, settings))
    if not views:
        return []
    blocks = [
        (
            settings.scenes.route(v.staged.scene).conversion_model,
            conversion_features(channel=v.staged.event.channel, ts=v.staged.event.ts, product=v.product,
                                prices=v.prices),
        )  # fmt: skip
        for v in views
    ]
    scored = await score_blocks(ctx.scorer, blocks)
    now = ctx.clock()
    decisions = []
    for view, result, (_, rows) in zip(views, scored, blocks, strict=True):
        event = view.staged.event
        if result.proba is None:
            fallback = fallback_price(view.product)
            choice = PriceChoice(fallback.price, fallback.p_convert, (result.failure, *fallback.reasons))
        else:
            choice = _choose(view, result.proba, ctx)
            if result.failure:
                choice = replace(choice, reasons=(result.failure, Reason.ONLINE_FALLBACK.value, *choice.reasons))
            product_id = view.product.product_id
            ctx.bandit.record_exposure(view.decision_id, event.user_id, product_id, choice.price, ts_ms(event))
            if ctx.learning is not None:
                index = int(np.argmin(np.abs(np.asarray(view.prices, dtype=float) - choice.price)))
                key = conversion_key(event.user_id, product_id)
                ctx.learning.scored_row(CONVERSION, key, rows, index, result, view.decision_id, event.ts)
        decisions.append(
            PriceDecision(
                decision_id=view.decision_id,
                event_id=event.event_id,
                user_id=event.user_id,
                decided_at=now,
                latency_ms=ctx.latency_ms(view.staged.incoming, now),
                scene=view.staged.scene,
                model_version=result.model_version,
                degraded=result.degraded,
                reasons=list(choice.reasons),
                product_id=view.product.product_id,
                price=choice.price,
                list_price=view.product.list_price,
                currency=view.product.currency,
                p_convert=min(1.0, max(0.0, choice.p_convert)),
                experiment=_experiment(view, choice, settings),
            )
        )
    return decisions
