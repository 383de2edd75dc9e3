"""Bid decisions for a micro-batch of events carrying an ``ad_slot``: one ``ctr`` request per served model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from agents.bidding.budget import CPM_PER_UNIT, utc_day
from agents.bidding.pacing import budget_state, day_progress
from agents.bidding.policy import Bid, choose_bid, rank_funded
from agents.categories import context_category
from agents.context import DecisionContext, latency_ms_at
from agents.features import ctr_feature_block
from agents.grouped_scoring import FALLBACK_VERSION, score_blocks
from agents.learning.loop import CTR
from agents.profiles.update import ts_ms
from agents.staging import Staged
from schemas.catalog import Campaign
from schemas.decisions import BidDecision, Scene, decision_id_for
from schemas.reasons import Reason

FEATURE_SCENE: dict[Scene, str] = {
    "search": "search",
    "browse": "browse",
    "product": "product",
    "cart": "browse",
    "checkout": "browse",
    "post_purchase": "browse",
}
"""Scene as the ctr model knows it (it was trained on search, browse and product slots)."""


@dataclass(slots=True)
class _Slot:
    staged: Staged
    decision_id: str
    candidates: list[Campaign]
    category: str | None
    reasons: tuple[str, ...]
    day: date
    """The UTC day the slot's budgets count in."""


def _budget(slot: _Slot, ctx: DecisionContext) -> tuple[dict[str, float], dict[str, float]]:
    """Budget left and pacing multiplier per candidate campaign, for the slot's partition and day."""
    return budget_state(
        slot.candidates, ctx.budget, day=slot.day, partition=slot.staged.incoming.partition,
        progress=day_progress(slot.staged.event.ts), policy=ctx.settings.bidding, excluding=slot.decision_id,
        share_of=ctx.campaigns.shares_of(slot.candidates),
    )  # fmt: skip


@dataclass
class _BatchMemo:
    """Per-batch cache of the planning phase (no reservation changes while slots are planned).

    ``headroom``: budget left per (partition, day), then campaign, counting every reservation.
    A slot's own earlier reservation (a redelivery) only adds headroom, so a positive cached
    value is exact enough to say "has budget", and only a slot that holds a reservation
    recomputes a non-positive one. (Targeting is cached across batches, in ``ctx.campaigns``.)
    """

    headroom: dict[tuple[int, date], dict[str, float]] = field(default_factory=dict)


def _plan(staged: Staged, ctx: DecisionContext, memo: _BatchMemo, now_ms: float) -> _Slot:
    policy = ctx.settings.bidding
    event = staged.event
    decision_id = decision_id_for(event.event_id, "bid")
    intent = staged.intent
    category = context_category(event, ctx.catalog.products, intent.category if intent else None)
    day = utc_day(event.ts)
    if _past_deadline(staged, now_ms):
        return _Slot(staged, decision_id, [], category, (Reason.DEADLINE.value,), day)
    pool = ctx.campaigns.pool(ctx.catalog, event.locale, category)
    mixed = ctx.campaigns.mixes_categories(ctx.catalog, event.locale, category)
    partition, book = staged.incoming.partition, ctx.budget
    shares = ctx.campaigns.shares(ctx.catalog)
    headrooms = memo.headroom.setdefault((partition, day), {})
    holds_reservation = decision_id in book.reservations

    def has_budget(campaign: Campaign) -> bool:
        campaign_id = campaign.campaign_id
        headroom = headrooms.get(campaign_id)
        if headroom is None:
            headroom = headrooms[campaign_id] = shares[campaign_id] - book.committed(campaign_id, day, partition)
        if headroom > 0.0:
            return True
        if not holds_reservation:  # leaving out no reservation of its own, the slot sees the cached headroom
            return False
        return shares[campaign_id] - book.committed(campaign_id, day, partition, excluding=decision_id) > 0.0

    candidates, why = rank_funded(
        pool, context_category=category, has_budget=has_budget, affinity=staged.after.affinity if mixed else {},
        limit=policy.max_candidates, is_presorted=True,
    )  # fmt: skip
    return _Slot(staged, decision_id, candidates, category, why, day)


def _past_deadline(staged: Staged, now_ms: float) -> bool:
    """Whether a bid made at ``now_ms`` would reach the exchange after the slot's ``tmax_ms`` (it could not win)."""
    deadline = staged.slot_deadline_ms
    return deadline is not None and now_ms > deadline


def _features(slot: _Slot) -> np.ndarray:
    event = slot.staged.event
    return ctr_feature_block(
        channel=event.channel, scene=FEATURE_SCENE[slot.staged.scene], ts=event.ts, locale=event.locale,
        floor_cpm=event.ad_slot.floor_cpm, context_category=slot.category, campaigns=slot.candidates,
    )  # fmt: skip


async def decide_bids(items: list[Staged], ctx: DecisionContext) -> list[BidDecision]:
    """One bid decision per event with an ``ad_slot`` (``bid_cpm = 0`` when we pass)."""
    if not items:
        return []
    policy, routes = ctx.settings.bidding, ctx.settings.scenes
    ctx.budget.forget_committed()
    memo, planned_ms = _BatchMemo(), ctx.clock().timestamp() * 1000.0
    slots = [_plan(staged, ctx, memo, planned_ms) for staged in items]
    rows = [_features(s) for s in slots]
    scored = await score_blocks(ctx.scorer, [(routes.route(s.staged.scene).ctr_model, r) for s, r in zip(slots, rows)])
    now = ctx.clock()
    now_ms = now.timestamp() * 1000.0
    decisions = []
    for slot, result, block in zip(slots, scored, rows, strict=True):
        event, incoming = slot.staged.event, slot.staged.incoming
        latency = latency_ms_at(incoming, now_ms)
        degraded = bool(slot.candidates) and result.degraded
        if not slot.candidates:
            bid = Bid(0.0, None, 0.0, slot.reasons)
        elif result.proba is None:
            bid = Bid(0.0, None, 0.0, (result.failure, Reason.FALLBACK_RULE.value))
        else:
            headroom, pace = _budget(slot, ctx)
            bid = choose_bid(
                slot.candidates, result.proba.tolist(), floor_cpm=event.ad_slot.floor_cpm,
                headroom=headroom, policy=policy, pace=pace, shading=routes.route(slot.staged.scene).bid_shading,
            )  # fmt: skip
            if result.failure:
                bid = replace(bid, reasons=(result.failure, Reason.ONLINE_FALLBACK.value, *bid.reasons))
        if bid.bid_cpm > 0 and _past_deadline(slot.staged, now_ms):
            bid = Bid(0.0, None, bid.p_ctr, (Reason.DEADLINE.value,))
        if bid.campaign is not None and ctx.learning is not None:
            index = next(i for i, c in enumerate(slot.candidates) if c is bid.campaign)  # not ==: models compare slowly
            ctx.learning.scored_row(CTR, slot.decision_id, block, index, result, slot.decision_id, event.ts)
        if bid.campaign is not None:
            ctx.budget.reserve(
                slot.decision_id, bid.campaign.campaign_id, bid.bid_cpm / CPM_PER_UNIT, slot.day,
                partition=incoming.partition, ts_ms=ts_ms(event),
            )  # fmt: skip
        decisions.append(
            BidDecision(
                decision_id=slot.decision_id,
                event_id=event.event_id,
                user_id=event.user_id,
                decided_at=now,
                latency_ms=latency,
                scene=slot.staged.scene,
                model_version=FALLBACK_VERSION if degraded and result.proba is None else result.model_version,
                degraded=degraded,
                reasons=list(bid.reasons) + list(slot.staged.intent.reasons if slot.staged.intent else ()),
                slot_id=event.ad_slot.slot_id,
                bid_cpm=bid.bid_cpm,
                currency=bid.campaign.currency if bid.campaign else policy.currency,
                campaign_id=bid.campaign.campaign_id if bid.campaign else None,
                ad_id=bid.campaign.ad_id if bid.campaign else None,
                p_ctr=min(1.0, max(0.0, bid.p_ctr)),
                query_category=slot.staged.intent.category if slot.staged.intent else None,
                language=slot.staged.intent.language if slot.staged.intent else None,
            )
        )
    return decisions
