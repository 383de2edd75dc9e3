"""Price decisions for a micro-batch of product views: one ``conversion`` request per served model.

Each view is priced under its user's experiment arm: ``optimise`` (the
expected-margin maximum), ``thompson`` (a price drawn from the posterior of
each price point's conversion, prior from the model) or ``list_price``. The
decision logs the arm and the probability of its price (arm share × the
probability of the price within the arm).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from agents.context import DecisionContext, latency_ms_at
from agents.experiments import assign_arm
from agents.features import conversion_view_rows
from agents.grouped_scoring import score_blocks
from agents.learning.loop import CONVERSION, conversion_key
from agents.pricing.bandit import PendingExposures, posterior
from agents.pricing.plans import Candidates, PricePlans
from agents.pricing.policy import PriceChoice, fallback_price, fixed_plan_price, thompson_plan_prices
from agents.profiles.update import ts_ms
from agents.staging import Staged
from schemas.catalog import Product
from schemas.decisions import Experiment, PriceDecision, decision_id_for
from schemas.reasons import Reason
from streams.settings import ArmStrategy, ExperimentArm, Settings

PROPENSITY_DECIMALS = 6


@dataclass(slots=True)
class _View:
    staged: Staged
    decision_id: str
    product: Product
    arm: ExperimentArm | None
    strategy: ArmStrategy
    candidates: Candidates


def _plan(staged: Staged, product: Product, settings: Settings, plans: PricePlans) -> _View:
    policy = settings.pricing
    experiment = policy.experiment
    arm = assign_arm(staged.event.user_id, experiment.name, experiment.arms) if experiment.enabled else None
    strategy: ArmStrategy = arm.strategy if arm else "optimise"
    candidates = plans.list_price(product, policy) if strategy == "list_price" else plans.grid(product, policy)
    return _View(staged, decision_id_for(staged.event.event_id, "price"), product, arm, strategy, candidates)


def _choose_all(views: list[_View], probas: list[np.ndarray], ctx: DecisionContext) -> list[PriceChoice]:
    """Each view's price under its arm's strategy, the Thompson-sampled ones drawn together.

    Deciding one view at a time recorded each exposure before the next view's posterior. Here
    views go in rounds: the first view of every product, then the second, and so on; a
    round's posteriors count the exposures chosen in earlier rounds (``pending``), so every
    price is the one-at-a-time price. A view's posterior leaves out its own exposure (a
    redelivered event draws as the first time).
    """
    experiment = ctx.settings.pricing.experiment
    choices: dict[int, PriceChoice] = {}
    pending = PendingExposures()
    for members in _rounds(views):
        sampled = []
        for index in members:
            view = views[index]
            if view.strategy == "thompson":
                sampled.append(index)
            else:
                choices[index] = fixed_plan_price(view.strategy, view.candidates.plan, probas[index])
        if sampled:
            shown, converted = ctx.bandit.counts_many(
                [views[i].candidates.keys for i in sampled], [views[i].decision_id for i in sampled], pending
            )
            estimates = [probas[i] for i in sampled]
            mean, std = posterior(np.concatenate(estimates), experiment.prior_strength, shown, converted)
            plans = [views[i].candidates.plan for i in sampled]
            draw_keys = [views[i].staged.event.event_id for i in sampled]
            choices.update(zip(sampled, thompson_plan_prices(plans, estimates, mean, std, draw_keys, experiment),
                               strict=True))  # fmt: skip
        for index in members:
            view = views[index]
            ctx.bandit.hold_exposure(pending, view.decision_id, view.product.product_id, choices[index].price)
    return [choices[index] for index in range(len(views))]


def _rounds(views: list[_View]) -> list[list[int]]:
    """View indexes by how many views of the same product came before them: the first of each, the second, ...

    >>> from types import SimpleNamespace
    >>> _rounds([SimpleNamespace(product=SimpleNamespace(product_id=p)) for p in "abab"])
    [[0, 1], [2, 3]]
    """
    rounds: list[list[int]] = []
    seen: Counter[str] = Counter()
    for index, view in enumerate(views):
        product_id = view.product.product_id
        if seen[product_id] == len(rounds):
            rounds.append([])
        rounds[seen[product_id]].append(index)
        seen[product_id] += 1
    return rounds


def _row_of(view: _View, choice: PriceChoice) -> int:
    """The feature row of the chosen price: its position among the view's candidates (the nearest, if not given)."""
    if choice.index is not None:
        return choice.index
    return int(np.argmin(np.abs(np.asarray(view.candidates.plan.prices, dtype=float) - choice.price)))


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
            views.append(_plan(staged, product, settings, ctx.price_plans))
    if not views:
        return []
    blocks = [
        (
            settings.scenes.route(v.staged.scene).conversion_model,
            conversion_view_rows(v.candidates.rows, channel=v.staged.event.channel, ts=v.staged.event.ts),
        )  # fmt: skip
        for v in views
    ]
    scored = await score_blocks(ctx.scorer, blocks)
    answered = [index for index, result in enumerate(scored) if result.proba is not None]
    chosen = dict(zip(answered, _choose_all([views[i] for i in answered], [scored[i].proba for i in answered], ctx),
                      strict=True))  # fmt: skip
    now = ctx.clock()
    now_ms = now.timestamp() * 1000.0
    decisions = []
    for index, (view, result, (_, rows)) in enumerate(zip(views, scored, blocks, strict=True)):
        event = view.staged.event
        if result.proba is None:
            fallback = fallback_price(view.product)
            choice = PriceChoice(fallback.price, fallback.p_convert, (result.failure, *fallback.reasons))
        else:
            choice = chosen[index]
            if result.failure:
                choice = replace(choice, reasons=(result.failure, Reason.ONLINE_FALLBACK.value, *choice.reasons))
            product_id = view.product.product_id
            ctx.bandit.record_exposure(view.decision_id, event.user_id, product_id, choice.price, ts_ms(event))
            if ctx.learning is not None:
                key = conversion_key(event.user_id, product_id)
                ctx.learning.scored_row(CONVERSION, key, rows, _row_of(view, choice), result, view.decision_id, event.ts)
        decisions.append(
            PriceDecision(
                decision_id=view.decision_id,
                event_id=event.event_id,
                user_id=event.user_id,
                decided_at=now,
                latency_ms=latency_ms_at(view.staged.incoming, now_ms),
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
