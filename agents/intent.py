"""Search-query intent from the served ``query_intent`` model: category, language and confidence.

Uses the worker's shared :class:`~agents.scoring.TritonScorer`: its gRPC client, deadline
and the model's circuit breaker. Queries travel as raw UTF-8 (``TEXT``, ``BYTES``
``[rows, 1]``); the tokenizer runs inside the served model. Every failure becomes
:class:`~agents.scoring.ScoringUnavailable`, so the caller's fallback can decide.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from agents.breaker import CircuitBreaker
from agents.scoring import MS_PER_S, ModelContractError, ScoringUnavailable, TritonScorer
from schemas.common import CATEGORIES
from schemas.reasons import Reason
from streams.settings import IntentPolicy
from triton_models.query_intent.contract import (
    CATEGORY_PROBA_TENSOR,
    LANGUAGE_TENSOR,
    MAX_BATCH_SIZE,
    MODEL_NAME,
    TEXT_TENSOR,
)

READY_POLL_S: Final = 0.5
DETAIL_CHARS: Final = 200


@dataclass(frozen=True)
class QueryIntent:
    """What a search query is after: its most probable category, its language and that category's probability."""

    category: str
    language: str
    confidence: float
    model_version: str


def intents_from(
    category_proba: np.ndarray | None, languages: np.ndarray | None, model_version: str
) -> list[QueryIntent]:
    """One :class:`QueryIntent` per row of the served outputs.

    Raises
    ------
    ValueError
        When the outputs do not have the served shapes.

    Examples
    --------
    >>> proba = np.eye(8, dtype=np.float32)[[0, 7]] * 0.9 + 0.0125
    >>> intents = intents_from(proba, np.array([[b"zh"], [b"es"]], dtype=object), "query_intent:2")
    >>> [(i.category, i.language, round(i.confidence, 4)) for i in intents]
    [('electronics', 'zh', 0.9125), ('books', 'es', 0.9125)]
    >>> intents_from(proba[:, :3], np.array([[b"zh"], [b"es"]], dtype=object), "v")
    Traceback (most recent call last):
    ...
    ValueError: query_intent: CATEGORY_PROBA shape (2, 3), LANGUAGE shape (2, 1) for 2 queries
    """
    if category_proba is None or languages is None:
        raise ValueError(f"{MODEL_NAME}: the response lacks {CATEGORY_PROBA_TENSOR} or {LANGUAGE_TENSOR}")
    rows = len(languages)
    if category_proba.shape != (rows, len(CATEGORIES)) or languages.shape != (rows, 1):
        raise ValueError(
            f"{MODEL_NAME}: {CATEGORY_PROBA_TENSOR} shape {category_proba.shape}, "
            f"{LANGUAGE_TENSOR} shape {languages.shape} for {rows} queries"
        )
    best = category_proba.argmax(axis=1)
    return [
        QueryIntent(
            category=CATEGORIES[int(k)],
            language=value.decode() if isinstance(value, bytes) else str(value),
            confidence=float(category_proba[row, k]),
            model_version=model_version,
        )
        for row, (k, value) in enumerate(zip(best, languages[:, 0], strict=True))
    ]


def text_tensor(texts: Sequence[str]) -> grpcclient.InferInput:
    """The ``TEXT`` input of one request: UTF-8 bytes, shape ``[rows, 1]``."""
    array = np.array([t.encode("utf-8") for t in texts], dtype=np.object_).reshape(-1, 1)
    tensor = grpcclient.InferInput(TEXT_TENSOR, list(array.shape), "BYTES")
    tensor.set_data_from_numpy(array)
    return tensor


def _reason_for(exc: InferenceServerException) -> Reason:
    return Reason.TRITON_TIMEOUT if "DEADLINE_EXCEEDED" in str(exc.status() or "") else Reason.TRITON_UNAVAILABLE


async def _infer(scorer: TritonScorer, texts: Sequence[str], deadline_s: float) -> list[QueryIntent]:
    began = scorer._clock()
    result = await scorer.client.infer(
        MODEL_NAME,
        [text_tensor(texts)],
        outputs=[grpcclient.InferRequestedOutput(name) for name in (CATEGORY_PROBA_TENSOR, LANGUAGE_TENSOR)],
        client_timeout=deadline_s,
    )
    scorer.stats.requests += 1
    scorer.stats.rows += len(texts)
    scorer.stats.by_model[MODEL_NAME] = scorer.stats.by_model.get(MODEL_NAME, 0) + 1
    scorer.metrics.observe_triton_request(MODEL_NAME, (scorer._clock() - began) * MS_PER_S, len(texts))
    served = result.get_response().model_version
    scorer.metrics.set_live_version(MODEL_NAME, served)
    version = f"{MODEL_NAME}:{served}"
    return intents_from(result.as_numpy(CATEGORY_PROBA_TENSOR), result.as_numpy(LANGUAGE_TENSOR), version)


def _fail(scorer: TritonScorer, breaker: CircuitBreaker, reason: Reason, detail: str) -> ScoringUnavailable:
    scorer.stats.failures += 1
    breaker.record_failure(scorer._clock())
    scorer.metrics.observe_triton_failure(MODEL_NAME, reason)
    scorer.metrics.set_breaker_state(MODEL_NAME, breaker.state)
    scorer.log_failed(MODEL_NAME, detail)
    return ScoringUnavailable(MODEL_NAME, reason, detail[:DETAIL_CHARS])


async def classify_queries(scorer: TritonScorer, texts: list[str], deadline_s: float | None = None) -> list[QueryIntent]:
    """Category, language and confidence of each query, from one batched request.

    Requests are split only above the served ``max_batch_size`` (:data:`MAX_BATCH_SIZE`).

    Parameters
    ----------
    scorer
        The worker's shared scorer: its client, ``settings.deadline_s`` and the
        ``query_intent`` circuit breaker are used.
    texts
        Raw search queries.
    deadline_s
        Per-request deadline; the scorer's ``deadline_s`` when None.

    Returns
    -------
    list[QueryIntent]
        In the order of ``texts``.

    Raises
    ------
    ScoringUnavailable
        When the breaker is open, the deadline passes, Triton fails or answers malformed outputs.
    """
    if not texts:
        return []
    breaker = scorer.breaker(MODEL_NAME)
    if not breaker.allow(scorer._clock()):
        scorer.metrics.observe_triton_failure(MODEL_NAME, Reason.CIRCUIT_OPEN)
        raise ScoringUnavailable(MODEL_NAME, Reason.CIRCUIT_OPEN)
    chunks = [texts[i : i + MAX_BATCH_SIZE] for i in range(0, len(texts), MAX_BATCH_SIZE)]
    try:
        deadline = scorer.settings.deadline_s if deadline_s is None else deadline_s
        results = await asyncio.gather(*(_infer(scorer, chunk, deadline) for chunk in chunks))
    except InferenceServerException as exc:
        raise _fail(scorer, breaker, _reason_for(exc), str(exc.message())) from None
    except ValueError as exc:
        raise _fail(scorer, breaker, Reason.TRITON_UNAVAILABLE, str(exc)) from None
    breaker.record_success()
    scorer.metrics.set_breaker_state(MODEL_NAME, breaker.state)
    scorer.log_recovered(MODEL_NAME)
    return [intent for chunk in results for intent in chunk]


async def check_intent_contract(scorer: TritonScorer, timeout_s: float = 60.0) -> int:
    """Wait until ``query_intent`` is ready and check its tensors; returns its served ``max_batch_size``.

    Raises
    ------
    ModelContractError
        Stating served and expected values when names, types, shapes or batch size differ.
    """
    deadline = scorer._clock() + timeout_s
    while not await _ready(scorer):
        if scorer._clock() > deadline:
            raise ModelContractError(f"{MODEL_NAME}: not ready on Triton at {scorer.url} after {timeout_s:.0f}s")
        await asyncio.sleep(READY_POLL_S)
    config = (await scorer.client.get_model_config(MODEL_NAME, as_json=True))["config"]
    served = {t["name"]: (t.get("data_type"), [int(d) for d in t.get("dims", [])]) for t in config.get("input", [])}
    served |= {t["name"]: (t.get("data_type"), [int(d) for d in t.get("dims", [])]) for t in config.get("output", [])}
    expected = {
        TEXT_TENSOR: ("TYPE_STRING", [1]),
        CATEGORY_PROBA_TENSOR: ("TYPE_FP32", [len(CATEGORIES)]),
        LANGUAGE_TENSOR: ("TYPE_STRING", [1]),
    }
    for name, wanted in expected.items():
        if served.get(name) != wanted:
            raise ModelContractError(
                f"{MODEL_NAME}: served {name} (type, dims)={served.get(name)} != expected {wanted}"
            )
    max_batch = int(config.get("max_batch_size", 0))
    if max_batch < MAX_BATCH_SIZE:
        raise ModelContractError(f"{MODEL_NAME}: served max_batch_size={max_batch} < configured {MAX_BATCH_SIZE}")
    return max_batch


async def _ready(scorer: TritonScorer) -> bool:
    try:
        return bool(await scorer.client.is_model_ready(MODEL_NAME))
    except InferenceServerException:
        return False


def _retrieved(future: asyncio.Future[QueryIntent]) -> None:
    """Mark a failed query's error as seen: callers that stopped waiting must not leave it unretrieved."""
    if not future.cancelled():
        future.exception()


def normalise_query(text: str) -> str:
    """The cache key of a query: case-folded, whitespace collapsed.

    Examples
    --------
    >>> normalise_query("  Wireless   Earbuds ") == normalise_query("wireless earbuds")
    True
    """
    return " ".join(text.casefold().split())


class CachingClassifier:
    """Query intents from Triton, with an LRU of normalised queries in front and one request in flight.

    Search traffic is heavy-headed (the same queries come back all day), and the
    text model costs milliseconds per query on CPU, so a hit saves a forward pass.
    Misses are queued and sent by one pump, one request (at most ``request_queries``)
    at a time: queries that arrive while a request runs go into the next one
    together, and a query already queued or in flight is not asked twice. So callers
    that stop waiting (a bid at its deadline) do not pile requests up on Triton, and
    the answer still fills the cache. Beyond ``max_queued`` waiting queries a miss fails
    at once (overload sheds the text model, not the bids). A failure raises
    :class:`~agents.scoring.ScoringUnavailable` to the callers of that request and
    caches nothing.
    """

    def __init__(self, scorer: TritonScorer, policy: IntentPolicy) -> None:
        self.scorer = scorer
        self.policy = policy
        self._cache: OrderedDict[str, QueryIntent] = OrderedDict()
        self._pending: dict[str, asyncio.Future[QueryIntent]] = {}
        self._queue: list[str] = []
        self._pump: asyncio.Task[None] | None = None
        self.hits = 0
        self.misses = 0
        self.shed = 0

    async def __call__(self, texts: list[str]) -> list[QueryIntent]:
        keys = [normalise_query(t) for t in texts]
        known = {k: self._cache[k] for k in keys if k in self._cache}
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        waiting = {k: self._pending.get(k) or self._enqueue(k) for k in missing}
        if self._queue and (self._pump is None or self._pump.done()):
            self._pump = asyncio.ensure_future(self._send_queued())
        known |= {k: await asyncio.shield(future) for k, future in waiting.items()}
        intents = [known[k] for k in keys]
        for key, intent in zip(keys, intents, strict=True):
            self._remember(key, intent)
        return intents

    def _enqueue(self, key: str) -> asyncio.Future[QueryIntent]:
        """A future for ``key``'s intent: queued for the next request, or failed at once when the queue is full."""
        future: asyncio.Future[QueryIntent] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)
        if len(self._queue) >= self.policy.max_queued:
            self.shed += 1
            future.set_exception(ScoringUnavailable(MODEL_NAME, Reason.TRITON_TIMEOUT))
            return future
        self._pending[key] = future
        self._queue.append(key)
        return future

    async def _send_queued(self) -> None:
        """Send the queued queries, one request at a time, until the queue is empty."""
        while self._queue:
            size = self.policy.request_queries
            batch, self._queue = self._queue[:size], self._queue[size:]
            try:
                intents = await classify_queries(self.scorer, batch, self.policy.deadline_s)
            except Exception as exc:
                for key in batch:
                    self._pending.pop(key).set_exception(exc)
                continue
            except BaseException:  # stopped: callers degrade, as when Triton is down
                for key in [*batch, *self._queue]:
                    self._pending.pop(key).set_exception(ScoringUnavailable(MODEL_NAME, Reason.TRITON_UNAVAILABLE))
                self._queue = []
                raise
            for key, intent in zip(batch, intents, strict=True):
                self._remember(key, intent)
                self._pending.pop(key).set_result(intent)

    def peek(self, texts: list[str]) -> list[QueryIntent | None]:
        """The cached intent of each query, without asking Triton (None for a miss)."""
        return [self._cache.get(normalise_query(t)) for t in texts]

    def _remember(self, key: str, intent: QueryIntent) -> None:
        if self.policy.cache_size == 0:
            return
        self._cache[key] = intent
        self._cache.move_to_end(key)
        while len(self._cache) > self.policy.cache_size:
            self._cache.popitem(last=False)
