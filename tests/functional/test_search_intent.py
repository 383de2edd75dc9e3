"""Search bids carry the query intent: category targeting, language, and a clear reason when it is missing."""

from __future__ import annotations

import asyncio

from agents.context import DecisionContext
from agents.intent import QueryIntent
from agents.route import decide_batch
from agents.scoring import ScoringUnavailable
from schemas.reasons import Reason
from streams.settings import Settings
from streams.topics import BIDS
from tests.functional.test_decide_batch import BASE, NOW, FixedScorer, catalog, incoming

PROBA = {"ctr": 0.05, "conversion": 0.05, "fraud": 0.01}


class Classifier:
    """Answers per query from a table and records what it was asked."""

    def __init__(self, answers: dict[str, QueryIntent]) -> None:
        self.answers = answers
        self.asked: list[list[str]] = []

    async def __call__(self, texts: list[str]) -> list[QueryIntent]:
        self.asked.append(texts)
        return [self.answers[t] for t in texts]


class SlowClassifier(Classifier):
    """Answers after ``delay_s`` (a loaded Triton), then the answer is there for whoever asks next."""

    def __init__(self, answers: dict[str, QueryIntent], delay_s: float) -> None:
        super().__init__(answers)
        self.delay_s = delay_s
        self.answered = asyncio.Event()

    async def __call__(self, texts: list[str]) -> list[QueryIntent]:
        self.asked.append(texts)
        await asyncio.sleep(self.delay_s)
        self.answered.set()
        return [self.answers[t] for t in texts]


class DownClassifier:
    async def __call__(self, texts: list[str]) -> list[QueryIntent]:
        raise ScoringUnavailable("query_intent", Reason.TRITON_TIMEOUT)


def intent(category: str, language: str, confidence: float = 0.95) -> QueryIntent:
    return QueryIntent(category=category, language=language, confidence=confidence, model_version="query_intent:1")


def search(event_id: str, query: str, locale: str = "zh-CN", tmax_ms: int | None = None) -> object:
    slot = {"slot_id": f"slot-{event_id}", "floor_cpm": 0.5} | ({"tmax_ms": tmax_ms} if tmax_ms else {})
    event = {**BASE, "locale": locale, "event_id": event_id, "kind": "search", "query": query, "ad_slot": slot}
    return incoming("events.searches", event, 0)


def context(classify: object) -> DecisionContext:
    return DecisionContext(settings=Settings(_env_file=None), scorer=FixedScorer(PROBA), catalog=catalog(),
                           clock=lambda: NOW, classify=classify)


async def bids_of(items: list, ctx: DecisionContext) -> dict[str, object]:
    return {o.decision.event_id: o.decision for o in await decide_batch(items, ctx) if o.topic == BIDS}


async def test_chinese_phone_case_search_bids_for_the_electronics_campaign() -> None:
    classify = Classifier({"手机壳": intent("electronics", "zh"), "novela negra": intent("books", "es")})
    bids = await bids_of([search("s-zh", "手机壳"), search("s-es", "novela negra", "es-ES")], context(classify))
    assert classify.asked == [["手机壳", "novela negra"]]
    zh, es = bids["s-zh"], bids["s-es"]
    assert (zh.query_category, zh.language, zh.campaign_id) == ("electronics", "zh", "c-1") and zh.bid_cpm > 0
    assert (es.query_category, es.language, es.bid_cpm, es.campaign_id) == ("books", "es", 0.0, None)
    assert Reason.NO_CAMPAIGN.value in es.reasons


async def test_low_confidence_keeps_the_language_but_targets_no_category() -> None:
    bids = await bids_of([search("s1", "xyz")], context(Classifier({"xyz": intent("electronics", "en", 0.3)})))
    assert (bids["s1"].query_category, bids["s1"].language) == (None, "en")
    assert Reason.LOW_INTENT_CONFIDENCE.value in bids["s1"].reasons


async def test_classifier_down_still_decides_every_search_and_says_why() -> None:
    bids = await bids_of([search("s1", "手机壳"), search("s2", "case")], context(DownClassifier()))
    assert set(bids) == {"s1", "s2"}
    for bid in bids.values():
        assert bid.query_category is None and bid.language is None
        assert Reason.INTENT_UNAVAILABLE.value in bid.reasons


async def test_no_classifier_means_no_intent_fields_and_no_reason() -> None:
    bids = await bids_of([search("s1", "手机壳")], context(None))
    assert bids["s1"].query_category is None and Reason.INTENT_UNAVAILABLE.value not in bids["s1"].reasons


async def test_disabled_in_settings_skips_the_classifier() -> None:
    classify = Classifier({})
    ctx = context(classify)
    ctx.settings = Settings(_env_file=None, intent={"enabled": False})
    await bids_of([search("s1", "手机壳")], ctx)
    assert classify.asked == []


async def test_a_late_intent_does_not_hold_a_bid_past_its_deadline() -> None:
    """The slot's 100 ms deadline cannot wait for a 2 s intent: the bid goes out without it and says why."""
    classify = SlowClassifier({"手机壳": intent("electronics", "zh")}, delay_s=2.0)
    bids = await bids_of([search("s1", "手机壳", tmax_ms=100)], context(classify))
    assert not classify.answered.is_set()
    assert (bids["s1"].query_category, bids["s1"].language) == (None, None)
    assert Reason.INTENT_LATE.value in bids["s1"].reasons and Reason.DEADLINE.value not in bids["s1"].reasons
    await asyncio.wait_for(classify.answered.wait(), timeout=5.0)


async def test_a_slot_without_deadline_waits_for_the_intent() -> None:
    classify = SlowClassifier({"手机壳": intent("electronics", "zh")}, delay_s=0.2)
    bids = await bids_of([search("s1", "手机壳")], context(classify))
    assert bids["s1"].query_category == "electronics" and Reason.INTENT_LATE.value not in bids["s1"].reasons
