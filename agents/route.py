"""Route a decoded micro-batch to the decision families and collect what they decide.

The three families run concurrently, so a batch costs at most one request per
model, all in flight together.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agents.bidding.decide import decide_bids
from agents.context import DecisionContext, Incoming
from agents.fraud.decide import decide_fraud_batch
from agents.pricing.decide import decide_prices
from schemas.decisions import Decision
from streams.topics import BIDS, FRAUD, PRICES


@dataclass(frozen=True)
class Outgoing:
    """A decision and where it goes."""

    topic: str
    key: str
    decision: Decision


def apply_state(items: list[Incoming], ctx: DecisionContext) -> None:
    """State updates carried by events: win notices spend campaign budgets."""
    for incoming in items:
        event = incoming.event
        if event.kind == "ad_impression":
            ctx.budget.record_win(event.campaign_id, event.clearing_cpm, event.ts.date())


async def decide_batch(items: list[Incoming], ctx: DecisionContext) -> list[Outgoing]:
    """Every decision the contract promises for these events, in event order per family."""
    apply_state(items, ctx)
    with_slot = [i for i in items if getattr(i.event, "ad_slot", None) is not None]
    views = [i for i in items if i.event.kind == "product_view"]
    orders = [i for i in items if i.event.kind == "order"]
    bids, prices, frauds = await asyncio.gather(
        decide_bids(with_slot, ctx), decide_prices(views, ctx), decide_fraud_batch(orders, ctx)
    )
    out = [Outgoing(BIDS, d.user_id, d) for d in bids]
    out += [Outgoing(PRICES, d.user_id, d) for d in prices]
    out += [Outgoing(FRAUD, d.user_id, d) for d in frauds]
    return out
