"""The worker's ingest agents in process: Faust app and agents as the worker builds them, sends captured."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from agents.context import DecisionContext
from agents.ingest import register_ingest
from agents.scoring import Scores
from agents.tables import ChangelogRecord
from streams.app import create_app
from streams.produce import Record, RecordSender
from streams.settings import Settings
from tests.functional.test_decide_batch import catalog

Sent = list[tuple[str, Any]]


class FixedScorer:
    """Every model answers 0.02 (what Triton would, minus the server)."""

    async def score(self, model: str, features: np.ndarray) -> Scores:
        return Scores(np.full(len(features), 0.02, dtype=np.float32), f"{model}:1")


def ingest_agents(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, changelog: list[ChangelogRecord] | None = None
) -> tuple[dict[str, Any], DecisionContext, Sent]:
    """The ingest agents by name, their context, and the ``(topic, value)`` of everything they send.

    Table changelog records go to ``changelog`` (when given), as they would go to the producer.
    """
    app, topics = create_app(settings)
    ctx = DecisionContext(settings=settings, scorer=FixedScorer(), catalog=catalog())
    ready = asyncio.Event()
    ready.set()
    agents = {agent.name: agent for agent in register_ingest(app, topics, ctx, ready)}
    sent: Sent = []
    for name, topic in topics.outputs.items():

        async def capture(key: Any = None, value: Any = None, _name: str = name, **_: Any) -> None:
            sent.append((_name, value))

        monkeypatch.setattr(topic, "send", capture)

    async def capture_bytes(_self: RecordSender, topic: str, key: bytes | None, value: bytes,
                            partition: int | None = None) -> None:  # fmt: skip
        if changelog is not None:
            changelog.append(ChangelogRecord(topic, partition if partition is not None else -1, key or b"", value))

    async def capture_records(_self: RecordSender, records: Iterable[Record]) -> None:
        for record in records:
            if isinstance(record.value, bytes):
                await capture_bytes(_self, record.topic, record.key, record.value, record.partition)
            else:
                sent.append((record.topic, record.value))

    monkeypatch.setattr(RecordSender, "send_bytes", capture_bytes)
    monkeypatch.setattr(RecordSender, "send_records", capture_records)
    return agents, ctx, sent
