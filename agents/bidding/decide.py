"""Bid decisions for a micro-batch of events carrying an ``ad_slot``: one ``ctr`` request per batch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.bidding.policy import Bid, candidate_campaigns, choose_bid
from agents.context import DecisionContext, Incoming
from agents.features import N_CTR_FEATURES, ctr_features
from agents.scenes import scene_of
from agents.scoring import ScoringUnavailable
from schemas.catalog import Campaign
from schemas.common import CATEGORIES
from schemas.decisions import BidDecision, decision_id_for
from schemas.reasons import Reason

MODEL = "ctr"


def category_of_page(page: str) -> str | None:
    """The category of a category page (``/c/<category>``), else None.

    Examples
    --------
    >>> category_of_page("/c/toys"), category_of_page("/c/toys/lego"), category_of_page("/home")
    ('toys', 'toys', None)
    """
    parts = page.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "c" and parts[1] in CATEGORIES:
        return parts[1]
    return None


def context_category(incoming: Incoming, ctx: DecisionContext) -> str | None:
    """The product category an ad slot appears next to, when known."""
    event = incoming.event
    if event.kind == "product_view":
        product = ctx.catalog.products.get(event.product_id)
        return product.category if product else None
    if event.kind == "page_view":
        return category_of_page(event.page)
    return None


@dataclass
class _Slot:
    incoming: Incoming
    candidates: list[Campaign]
    first_row: int
    reasons: tuple[str, ...]


async def decide_bids(items: list[Incoming], ctx: DecisionContext) -> list[BidDecision]:
    """One bid decision per event with an ``ad_slot`` (``bid_cpm = 0`` when we pass)."""
    policy = ctx.settings.bidding
    today = ctx.clock().date()
    campaigns = list(ctx.catalog.campaigns.values())
    spent = {c.campaign_id: ctx.budget.spent(c.campaign_id, today) for c in campaigns}
    remaining = {c.campaign_id: c.daily_budget - spent[c.campaign_id] for c in campaigns}
    rows: list[list[float]] = []
    slots: list[_Slot] = []
    for incoming in items:
        event = incoming.event
        category = context_category(incoming, ctx)
        candidates, why = candidate_campaigns(
            campaigns, locale=event.locale, currency_spent=spent, context_category=category, limit=policy.max_candidates
        )
        slots.append(_Slot(incoming, candidates, len(rows), why))
        for campaign in candidates:
            rows.append(
                ctr_features(
                    channel=event.channel,
                    scene=scene_of(event.kind),
                    ts=event.ts,
                    locale=event.locale,
                    floor_cpm=event.ad_slot.floor_cpm,
                    context_category=category,
                    campaign=campaign,
                )
            )
    p_ctr: np.ndarray | None = None
    model_version, degraded, failure = "fallback", False, ""
    if rows:
        try:
            scores = await ctx.scorer.score(MODEL, np.asarray(rows, dtype=np.float32).reshape(-1, N_CTR_FEATURES))
            p_ctr, model_version = scores.proba, scores.model_version
        except ScoringUnavailable as exc:
            degraded, failure = True, exc.reason.value
    now = ctx.clock()
    decisions = []
    for slot in slots:
        event = slot.incoming.event
        latency = ctx.latency_ms(slot.incoming, now)
        if not slot.candidates:
            bid = Bid(0.0, None, 0.0, slot.reasons)
        elif p_ctr is None:
            bid = Bid(0.0, None, 0.0, (failure, Reason.FALLBACK_RULE.value))
        else:
            scored = p_ctr[slot.first_row : slot.first_row + len(slot.candidates)]
            bid = choose_bid(
                slot.candidates,
                [float(p) for p in scored],
                floor_cpm=event.ad_slot.floor_cpm,
                remaining_budget=remaining,
                policy=policy,
            )
        if event.ad_slot.tmax_ms is not None and latency > event.ad_slot.tmax_ms and bid.bid_cpm > 0:
            bid = Bid(0.0, None, bid.p_ctr, (Reason.DEADLINE.value,))
        if bid.campaign is not None:
            remaining[bid.campaign.campaign_id] -= bid.bid_cpm / 1000.0
        decisions.append(
            BidDecision(
                decision_id=decision_id_for(event.event_id, "bid"),
                event_id=event.event_id,
                user_id=event.user_id,
                decided_at=now,
                latency_ms=latency,
                scene=scene_of(event.kind),
                model_version=model_version if not degraded else "fallback",
                degraded=degraded,
                reasons=list(bid.reasons),
                slot_id=event.ad_slot.slot_id,
                bid_cpm=bid.bid_cpm,
                currency=bid.campaign.currency if bid.campaign else policy.currency,
                campaign_id=bid.campaign.campaign_id if bid.campaign else None,
                ad_id=bid.campaign.ad_id if bid.campaign else None,
                p_ctr=min(1.0, max(0.0, bid.p_ctr)),
                query_category=None,
                language=None,
            )
        )
    return decisions
