"""Query intents of a micro-batch's searches, before its state and decisions use them.

One ``query_intent`` request per batch (cache misses only). When Triton cannot
answer, searches go on without a category and their bids say why
(``intent_unavailable``); nothing else waits or fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agents.context import DecisionContext, Incoming
from agents.intent import QueryIntent
from agents.scoring import ScoringUnavailable
from schemas.reasons import Reason

log = logging.getLogger("streamdecide.intent")


@dataclass(frozen=True)
class SearchIntent:
    """What the bids of one search may use: a category only when the model is confident enough."""

    category: str | None
    language: str | None
    reasons: tuple[str, ...] = ()


UNAVAILABLE = SearchIntent(None, None, (Reason.INTENT_UNAVAILABLE.value,))
LATE = SearchIntent(None, None, (Reason.INTENT_LATE.value,))


def usable(intent: QueryIntent, min_confidence: float) -> SearchIntent:
    """The category when its probability reaches ``min_confidence``; the language always.

    Examples
    --------
    >>> i = QueryIntent(category="toys", language="es", confidence=0.4, model_version="query_intent:1")
    >>> usable(i, 0.5)
    SearchIntent(category=None, language='es', reasons=('low_intent_confidence',))
    >>> usable(i, 0.3).category
    'toys'
    """
    if intent.confidence >= min_confidence:
        return SearchIntent(intent.category, intent.language)
    return SearchIntent(None, intent.language, (Reason.LOW_INTENT_CONFIDENCE.value,))


def intent_wait_s(deadlines_ms: list[float | None], now_ms: float, reserve_ms: float) -> float | None:
    """How long search bids may wait for their query intents, in seconds (``None``: as long as it takes).

    ``deadlines_ms`` are the absolute deadlines (epoch ms) of the batch's search slots, ``None``
    for a slot without ``tmax_ms``. The wait ends ``reserve_ms`` before the earliest deadline that
    can still be met; a slot without deadline does not limit it (it bids without the intent
    when the others cannot wait); when no deadline can be met the bids do not wait at all
    (they answer ``deadline`` anyway).

    Examples
    --------
    >>> intent_wait_s([1_100.0, 1_080.0], now_ms=1_000.0, reserve_ms=15.0)
    0.065
    >>> intent_wait_s([1_010.0, 1_100.0], now_ms=1_000.0, reserve_ms=15.0)  # the first is lost already
    0.085
    >>> intent_wait_s([1_010.0], now_ms=1_000.0, reserve_ms=15.0), intent_wait_s([None], 1_000.0, 15.0)
    (0.0, None)
    >>> intent_wait_s([None, 1_100.0], now_ms=1_000.0, reserve_ms=15.0)  # deadlines win
    0.085
    """
    known = [d for d in deadlines_ms if d is not None]
    if not known:
        return None
    open_ms = [d - now_ms - reserve_ms for d in known if d - now_ms > reserve_ms]
    return round(min(open_ms) / 1000.0, 6) if open_ms else 0.0


async def search_intents(items: list[Incoming], ctx: DecisionContext) -> dict[str, SearchIntent]:
    """Intent per ``event_id`` of the searches among ``items`` (empty when classification is off)."""
    policy = ctx.settings.intent
    searches = [i.event for i in items if i.event.kind == "search"]
    if not searches or ctx.classify is None or not policy.enabled:
        return {}
    try:
        intents = await ctx.classify([e.query for e in searches])
    except ScoringUnavailable as exc:
        log.warning("query intent unavailable", extra={"reason": exc.reason.value, "searches": len(searches)})
        return {e.event_id: UNAVAILABLE for e in searches}
    return {e.event_id: usable(i, policy.min_confidence) for e, i in zip(searches, intents, strict=True)}


def cached_intents(items: list[Incoming], ctx: DecisionContext) -> dict[str, SearchIntent]:
    """Intent per ``event_id`` of the searches whose query is already in the classifier's cache (no I/O).

    Profiles are staged with these while the batch's ``query_intent`` request is in flight,
    so only search bids wait for the text model; a query seen for the first time adds no
    category affinity.
    """
    peek = getattr(ctx.classify, "peek", None)
    if peek is None or not ctx.settings.intent.enabled:
        return {}
    searches = [i.event for i in items if i.event.kind == "search"]
    if not searches:
        return {}
    known = peek([e.query for e in searches])
    min_confidence = ctx.settings.intent.min_confidence
    return {e.event_id: usable(i, min_confidence) for e, i in zip(searches, known, strict=True) if i is not None}
