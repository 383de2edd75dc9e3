"""The shared, batched async gRPC client of Triton, with deadlines and a circuit breaker per model.

Agents hand it one feature matrix per model per micro-batch; it sends one request
(split only above the served ``max_batch_size``), and turns every timeout, server
error or open breaker into :class:`ScoringUnavailable` so a fallback can decide.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from agents.breaker import CircuitBreaker
from agents.features import FEATURES_TENSOR, PROBA_TENSOR
from agents.triton_client import LazyTritonClient
from schemas.errors import StreamdecideError
from schemas.reasons import Reason
from streams.metrics import Metrics
from streams.security import triton_client_kwargs
from streams.settings import TritonClientSettings

log = logging.getLogger("streamdecide.scoring")

MS_PER_S = 1000.0


class ScoringUnavailable(StreamdecideError):
    """The model could not answer; ``reason`` says why (a :class:`Reason` code)."""

    def __init__(self, model: str, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{model}: {reason.value} {detail}".strip())
        self.model = model
        self.reason = reason


class ModelContractError(StreamdecideError):
    """The served model does not match what the agents send (name, shape or batch size)."""


@dataclass(frozen=True)
class Scores:
    """Probabilities for each row, and which model version produced them (``"ctr:1"``)."""

    proba: np.ndarray
    model_version: str
    shadow_proba: np.ndarray | None = None
    """A shadow candidate's probabilities for the same rows, when one is being evaluated."""
    shadow_version: str | None = None
    failure: str = ""
    """Set when the served model failed and a fallback produced ``proba`` (the failure's reason code)."""


@dataclass
class ScorerStats:
    """Counters for benchmarks, the demo summary and metrics."""

    requests: int = 0
    rows: int = 0
    failures: int = 0
    by_model: dict[str, int] = field(default_factory=dict)


def _reason_for(exc: InferenceServerException) -> Reason:
    status = str(exc.status() or "")
    if "DEADLINE_EXCEEDED" in status:
        return Reason.TRITON_TIMEOUT
    return Reason.TRITON_UNAVAILABLE


def checked_output(model: str, proba: np.ndarray | None, rows: int) -> np.ndarray:
    """The served ``PROBA`` tensor if it holds one finite probability per row, else an error like Triton's.

    A served model that answers with the wrong shape (or NaN) fails like an
    unavailable one: the breaker counts it and the fallback decides.

    Examples
    --------
    >>> checked_output("ctr", np.array([[0.1], [0.2]], dtype=np.float32), 2).shape
    (2, 1)
    >>> checked_output("ctr", np.zeros((2, 2), dtype=np.float32), 2)
    Traceback (most recent call last):
    ...
    tritonclient.utils.InferenceServerException: ctr: served PROBA shape (2, 2), expected (2, 1) of finite probabilities
    """
    ok = (
        proba is not None
        and proba.shape in ((rows, 1), (rows,))
        and bool(np.all(np.isfinite(proba)))
        and bool(np.all((proba >= 0) & (proba <= 1)))
    )
    if not ok:
        shape = None if proba is None else tuple(proba.shape)
        raise InferenceServerException(
            msg=f"{model}: served {PROBA_TENSOR} shape {shape}, expected ({rows}, 1) of finite probabilities"
        )
    return proba


class TritonScorer(LazyTritonClient):
    """One gRPC channel to Triton shared by all agents of a worker.

    Every request, failure, breaker state and served model version is recorded
    in ``metrics`` (a private registry when none is given).
    """

    def __init__(
        self,
        url: str,
        settings: TritonClientSettings,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(url, triton_client_kwargs(settings))
        self.settings = settings
        self.metrics = metrics if metrics is not None else Metrics()
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._max_batch: dict[str, int] = {}
        self._logged_down: set[str] = set()
        self.stats = ScorerStats()

    def breaker(self, model: str) -> CircuitBreaker:
        """The circuit breaker of one model."""
        if model not in self._breakers:
            self._breakers[model] = CircuitBreaker(self.settings.breaker_failures, self.settings.breaker_reset_s)
        return self._breakers[model]

    async def check_contract(self, widths: dict[str, int], timeout_s: float = 60.0) -> dict[str, int]:
        """Wait until each model is ready and check its tensors against ``widths``.

        Returns the served ``max_batch_size`` per model; raises
        :class:`ModelContractError` stating both values on a mismatch.
        """
        deadline = self._clock() + timeout_s
        for model, width in widths.items():
            while not await self._model_ready(model):
                if self._clock() > deadline:
                    raise ModelContractError(f"{model}: not ready on Triton at {self.url} after {timeout_s:.0f}s")
                await asyncio.sleep(0.5)
            config = (await self.client.get_model_config(model, as_json=True))["config"]
            inputs = {i["name"]: [int(d) for d in i.get("dims", [])] for i in config.get("input", [])}
            outputs = {o["name"] for o in config.get("output", [])}
            if inputs.get(FEATURES_TENSOR) != [width]:
                raise ModelContractError(
                    f"{model}: served input {FEATURES_TENSOR} dims={inputs.get(FEATURES_TENSOR)} != expected [{width}]"
                )
            if PROBA_TENSOR not in outputs:
                raise ModelContractError(f"{model}: served outputs {sorted(outputs)} lack {PROBA_TENSOR}")
            served = int(config.get("max_batch_size", 0))
            if served < 1:
                raise ModelContractError(f"{model}: served max_batch_size={served}, expected a batched model (>= 1)")
            self._max_batch[model] = served
        return dict(self._max_batch)

    async def _model_ready(self, model: str) -> bool:
        try:
            return bool(await self.client.is_model_ready(model))
        except InferenceServerException:
            return False

    async def score(self, model: str, features: np.ndarray, version: int | None = None) -> Scores:
        """Probabilities for every row of ``features`` from one batched request.

        ``version`` asks for one served version (the live one of
        :class:`agents.learning.live.LiveVersions`); ``None`` lets Triton choose
        (the highest loaded version, which is a shadow candidate while one is loaded).

        Raises
        ------
        ScoringUnavailable
            When the breaker is open, the deadline passes or Triton fails.
        """
        breaker = self.breaker(model)
        allowed = breaker.allow(self._clock())
        self.metrics.set_breaker_state(model, breaker.state)
        if not allowed:
            self.metrics.observe_triton_failure(model, Reason.CIRCUIT_OPEN)
            raise ScoringUnavailable(model, Reason.CIRCUIT_OPEN)
        rows = np.ascontiguousarray(features, dtype=np.float32)
        limit = self._max_batch.get(model) or len(rows) or 1
        chunks = [rows[i : i + limit] for i in range(0, len(rows), limit)]
        try:
            results = await asyncio.gather(*(self._infer(model, chunk, version) for chunk in chunks))
        except InferenceServerException as exc:
            reason = _reason_for(exc)
            self._on_failure(model, breaker, exc, reason)
            raise ScoringUnavailable(model, reason, str(exc.message())[:200]) from None
        breaker.record_success()
        self.metrics.set_breaker_state(model, breaker.state)
        self.metrics.set_live_version(model, results[-1][1])
        self.log_recovered(model)
        proba = np.concatenate([p for p, _ in results]).reshape(-1)
        return Scores(proba=proba, model_version=f"{model}:{results[-1][1]}")

    async def score_shadow(self, model: str, features: np.ndarray, version: int) -> Scores | None:
        """A shadow candidate's probabilities for ``features``, or ``None`` when it fails.

        Never touches the live model's breaker, counters or metrics: a failing
        candidate cannot degrade live decisions.
        """
        rows = np.ascontiguousarray(features, dtype=np.float32)
        limit = self._max_batch.get(model) or len(rows) or 1
        try:
            results = await asyncio.gather(
                *(self._infer(model, rows[i : i + limit], version, record=False) for i in range(0, len(rows), limit))
            )
        except InferenceServerException as exc:
            log.debug("shadow scoring failed", extra={"model": model, "version": version, "error": str(exc)[:200]})
            return None
        proba = np.concatenate([p for p, _ in results]).reshape(-1)
        return Scores(proba=proba, model_version=f"{model}:{results[-1][1]}")

    async def _infer(
        self, model: str, rows: np.ndarray, version: int | None = None, record: bool = True
    ) -> tuple[np.ndarray, str]:
        tensor = grpcclient.InferInput(FEATURES_TENSOR, list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        began = self._clock()
        pinned = {} if version is None else {"model_version": str(version)}
        result = await self.client.infer(
            model,
            [tensor],
            outputs=[grpcclient.InferRequestedOutput(PROBA_TENSOR)],
            client_timeout=self.settings.deadline_s,
            **pinned,
        )
        proba = checked_output(model, result.as_numpy(PROBA_TENSOR), len(rows))
        if not record:
            return proba, result.get_response().model_version
        self.stats.requests += 1
        self.stats.rows += len(rows)
        self.stats.by_model[model] = self.stats.by_model.get(model, 0) + 1
        self.metrics.observe_triton_request(model, (self._clock() - began) * MS_PER_S, len(rows))
        return proba, result.get_response().model_version

    def _on_failure(
        self, model: str, breaker: CircuitBreaker, exc: InferenceServerException, reason: Reason
    ) -> None:
        self.stats.failures += 1
        was_open = breaker.state == "open"
        breaker.record_failure(self._clock())
        self.metrics.observe_triton_failure(model, reason)
        self.metrics.set_breaker_state(model, breaker.state, opened=not was_open and breaker.state == "open")
        self.log_failed(model, str(exc))

    def log_failed(self, model: str, error: str) -> None:
        """Log a model's failure once per outage (not once per request or event)."""
        if model not in self._logged_down:
            self._logged_down.add(model)
            log.error("triton request failed; fallback decides", extra={"model": model, "error": error[:300]})

    def log_recovered(self, model: str) -> None:
        """Log the end of a model's outage (once)."""
        if model in self._logged_down:
            self._logged_down.discard(model)
            log.warning("triton recovered", extra={"model": model})
