"""A served model that answers malformed outputs fails like an unavailable one, and is logged once per outage."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from agents.scoring import ScoringUnavailable, TritonScorer
from streams.settings import TritonClientSettings
from tests.unit.test_metrics import FakeResult


class ShapedResult(FakeResult):
    def __init__(self, rows: int, output: np.ndarray | None) -> None:
        super().__init__(rows, "1")
        self.output = output

    def as_numpy(self, name: str) -> np.ndarray | None:
        return self.output


class MalformedTriton:
    """Answers every request with ``output(rows)`` (a wrong shape, NaN or nothing) until ``healed``."""

    def __init__(self, output: Any) -> None:
        self.output, self.healed = output, False

    async def infer(self, model: str, inputs: list[Any], outputs: Any, client_timeout: float, **_: Any) -> FakeResult:
        rows = inputs[0].shape()[0]
        return FakeResult(rows, "1") if self.healed else ShapedResult(rows, self.output(rows))


@pytest.mark.parametrize(
    "output",
    [
        lambda rows: np.zeros((rows, 2), dtype=np.float32),
        lambda rows: np.zeros((rows + 1, 1), dtype=np.float32),
        lambda rows: np.full((rows, 1), np.nan, dtype=np.float32),
        lambda rows: np.full((rows, 1), 7.0, dtype=np.float32),
        lambda rows: None,
    ],
    ids=["two-columns", "extra-row", "nan", "not-a-probability", "missing-output"],
)
async def test_malformed_outputs_fall_back_and_are_logged_once(output: Any, caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    scorer = TritonScorer("fake:1", TritonClientSettings(breaker_failures=2, breaker_reset_s=1.0), clock=lambda: clock[0])
    fake = MalformedTriton(output)
    scorer._client = fake  # the gRPC channel is the one thing faked
    rows = np.zeros((3, 4), dtype=np.float32)
    caplog.set_level(logging.INFO, logger="streamdecide.scoring")
    reasons = []
    for _ in range(6):
        clock[0] += 0.6
        with pytest.raises(ScoringUnavailable) as failure:
            await scorer.score("ctr", rows)
        reasons.append(failure.value.reason.value)
    assert set(reasons) <= {"triton_unavailable", "circuit_open"} and "circuit_open" in reasons
    fake.healed = True
    clock[0] += 5.0
    assert (await scorer.score("ctr", rows)).proba.shape == (3,)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["triton request failed; fallback decides", "triton recovered"]
