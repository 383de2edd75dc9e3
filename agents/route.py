"""Route a decoded micro-batch: update the state it carries, then hand it to the decision families.

The batch's ``query_intent`` request goes out first and only search bids wait for
it, no longer than their slots' deadlines allow; meanwhile state is updated
(profiles, with search categories from the intent cache, budgets, the price
bandit), so every decision sees the events before it; then the three families
run concurrently, so a batch costs at most one request per served model, all in
flight together.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from agents.bidding.decide import decide_bids
from agents.context import DecisionContext, Incoming
from agents.fraud.decide import decide_fraud_batch
from agents.pricing.decide import decide_prices
from agents.search_intent import LATE, SearchIntent, cached_intents, intent_wait_s, search_intents
from agents.staging import Staged, stage_batch
from schemas.decisions import BidDecision, Decision
from streams.topics import BIDS, FRAUD, PRICES

log = logging.getLogger("streamdecide.route")


@dataclass(slots=True)
class Outgoing:
    """A decision and where it goes."""

    topic: str
    key: str
    decision: Decision


async def _bids_with_intents(
    items: list[Staged], intents: asyncio.Future[dict[str, SearchIntent]], ctx: DecisionContext
) -> list[BidDecision]:
    """Bid decisions once the batch's query intents are known, or when the slots' deadlines cannot wait longer.

    Late intents still land in the classifier's cache (the request is not cancelled); the
    searches bid on the cached intent, or without one (``intent_late``).
    """
    searches = [s for s in items if s.event.kind == "search"]
    deadlines = [s.slot_deadline_ms for s in searches]
    wait_s = intent_wait_s(deadlines, ctx.clock().timestamp() * 1000.0, ctx.settings.intent.bid_reserve_ms)
    done, _ = await asyncio.wait({intents}, timeout=wait_s)
    if intents in done:
        known = intents.result()
    else:
        intents.add_done_callback(_retrieve)
        known = {s.event.event_id: LATE for s in searches if s.intent is None}
    return await decide_bids([_with_intent(s, known.get(s.event.event_id)) for s in items], ctx)


def _with_intent(staged: Staged, intent: SearchIntent | None) -> Staged:
    """``staged`` with the search's ``intent`` when one is known (the same object when nothing changes)."""
    return staged if intent is None or intent is staged.intent else replace(staged, intent=intent)


def _retrieve(task: asyncio.Future[dict[str, SearchIntent]]) -> None:
    """Log an unexpected failure of an intent request nobody awaits any more (Triton's own are handled inside)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("late query intent request failed", exc_info=exc)


async def decide_batch(items: list[Incoming], ctx: DecisionContext) -> list[Outgoing]:
    """Every decision the contract promises for these events, in event order per family."""
    intents = asyncio.ensure_future(search_intents(items, ctx))
    staged = stage_batch(items, ctx, cached_intents(items, ctx))
    with_slot = [s for s in staged if getattr(s.event, "ad_slot", None) is not None]
    views = [s for s in staged if s.event.kind == "product_view"]
    orders = [s for s in staged if s.event.kind == "order"]
    bids, prices, frauds = await asyncio.gather(
        _bids_with_intents(with_slot, intents, ctx), decide_prices(views, ctx), decide_fraud_batch(orders, ctx)
    )
    if ctx.learning is not None and items:
        for incoming in items:
            ctx.learning.outcome(incoming.event)
        ctx.learning.expire(ctx.event_clock(items))
    out = [Outgoing(BIDS, d.user_id, d) for d in bids]
    out += [Outgoing(PRICES, d.user_id, d) for d in prices]
    out += [Outgoing(FRAUD, d.user_id, d) for d in frauds]
    return out
