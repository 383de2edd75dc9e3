"""The query-intent LRU: only misses go to Triton, one request per batch, bounded size, failures cache nothing."""

from __future__ import annotations

import asyncio

import pytest

import agents.intent as intent_module
from agents.intent import CachingClassifier, QueryIntent
from agents.scoring import ScoringUnavailable
from schemas.reasons import Reason
from streams.settings import IntentPolicy


class Triton:
    """Stands in for ``classify_queries``: records each request's texts; can fail or hold requests."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.down = False
        self.open = asyncio.Event()
        self.open.set()
        self.in_flight = 0

    async def __call__(self, scorer: object, texts: list[str], deadline_s: float | None = None) -> list[QueryIntent]:
        self.in_flight += 1
        try:
            await self.open.wait()
        finally:
            self.in_flight -= 1
        if self.down:
            raise ScoringUnavailable("query_intent", Reason.TRITON_UNAVAILABLE)
        if texts:
            self.requests.append(list(texts))
        return [QueryIntent("toys", "en", 0.9, "query_intent:1") for _ in texts]


@pytest.fixture
def triton(monkeypatch: pytest.MonkeyPatch) -> Triton:
    fake = Triton()
    monkeypatch.setattr(intent_module, "classify_queries", fake)
    return fake


async def test_only_distinct_misses_are_requested_once_per_batch(triton: Triton) -> None:
    classify = CachingClassifier(scorer=None, policy=IntentPolicy())  # type: ignore[arg-type]
    first = await classify(["Lego  set", "lego set", "yoga mat"])
    assert triton.requests == [["lego set", "yoga mat"]] and len(first) == 3
    await classify(["LEGO SET", "yoga mat", "novela"])
    assert triton.requests[-1] == ["novela"]
    assert (classify.hits, classify.misses) == (3, 3)


async def test_the_cache_is_bounded_and_least_recently_used_goes_first(triton: Triton) -> None:
    classify = CachingClassifier(scorer=None, policy=IntentPolicy(cache_size=2))  # type: ignore[arg-type]
    await classify(["a", "b"])
    await classify(["a", "c"])
    await classify(["a", "b"])
    assert triton.requests == [["a", "b"], ["c"], ["b"]]


async def test_a_failure_raises_and_caches_nothing(triton: Triton) -> None:
    classify = CachingClassifier(scorer=None, policy=IntentPolicy())  # type: ignore[arg-type]
    triton.down = True
    with pytest.raises(ScoringUnavailable):
        await classify(["a"])
    triton.down = False
    await classify(["a"])
    assert triton.requests == [["a"]]


async def test_peek_answers_from_the_cache_only(triton: Triton) -> None:
    classify = CachingClassifier(scorer=None, policy=IntentPolicy())  # type: ignore[arg-type]
    assert classify.peek(["Lego set"]) == [None]
    await classify(["lego set"])
    assert [i.category if i else None for i in classify.peek(["LEGO  set", "novela"])] == ["toys", None]
    assert triton.requests == [["lego set"]]


async def test_one_request_in_flight_and_later_misses_coalesce_into_the_next(triton: Triton) -> None:
    classify = CachingClassifier(scorer=None, policy=IntentPolicy())  # type: ignore[arg-type]
    triton.open.clear()
    first = asyncio.ensure_future(classify(["a", "b"]))
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(classify(texts)) for texts in (["b", "c"], ["d"], ["c", "e"])]
    await asyncio.sleep(0)
    assert triton.in_flight == 1
    triton.open.set()
    await asyncio.gather(first, *later)
    assert triton.requests == [["a", "b"], ["c", "d", "e"]]


async def test_a_caller_that_stops_waiting_still_fills_the_cache(triton: Triton) -> None:
    classify = CachingClassifier(scorer=None, policy=IntentPolicy())  # type: ignore[arg-type]
    triton.open.clear()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(classify(["lego set"]), timeout=0.01)
    triton.open.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert [i.category if i else None for i in classify.peek(["lego set"])] == ["toys"]


async def test_requests_are_capped_and_a_full_queue_sheds_new_misses(triton: Triton) -> None:
    classify = CachingClassifier(scorer=None, policy=IntentPolicy(request_queries=2, max_queued=3))  # type: ignore[arg-type]
    triton.open.clear()
    held = asyncio.ensure_future(classify(["a", "b", "c"]))
    await asyncio.sleep(0)
    with pytest.raises(ScoringUnavailable):
        await classify(["d", "e"])
    triton.open.set()
    await held
    assert triton.requests == [["a", "b"], ["c"]] and classify.shed == 2
