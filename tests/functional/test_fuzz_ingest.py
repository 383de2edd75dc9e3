"""The fuzz corpus through decoding and through the real ingest agent (Faust ``test_context()``, fixed scorer).

Every hostile case must end as its corpus entry says: decided (one decision on each
promised topic) or dead-lettered with the promised reason; and no raw personal data
from the inputs may appear in a decision, a DLQ record or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from schemas.codec import decode_event, encode
from schemas.errors import DecodeError
from streams.settings import Settings
from streams.synthetic.fuzz import CASE_NAMES, FuzzCase, fuzz_corpus, valid_messages
from streams.topics import DECISION_TOPICS, DLQ, EVENT_TOPICS
from tests.functional.ingest_harness import ingest_agents

LIMIT = 65_536
SEED = 11
AGENT_CASES = 1_500
SETTLE_S = 60.0
"""Upper bound on waiting for the agent to work through the corpus (not a speed requirement)."""


def corpus(count: int) -> list[FuzzCase]:
    return fuzz_corpus(count, seed=SEED, max_message_bytes=LIMIT, products=("p-1",), campaigns=("c-1",))


def outcome(case: FuzzCase) -> tuple[str, str]:
    try:
        decode_event(case.value, case.topic, LIMIT)
    except DecodeError as exc:
        return "dlq", exc.reason.value
    return "decide", ""


def test_every_case_decodes_to_its_promised_outcome() -> None:
    cases = corpus(10_000)
    assert {c.case for c in cases} == set(CASE_NAMES)
    wrong = Counter(
        (c.case, c.expect, c.reason, *got) for c in cases if (got := outcome(c)) != (c.expect, c.reason)
    )
    assert not wrong, wrong


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, Any], list[tuple[str, Any]]]]:
    settings = Settings(_env_file=None, kafka_bootstrap="127.0.0.1:1", topic_partitions=1, max_message_bytes=LIMIT)
    agents, _, sent = ingest_agents(monkeypatch, settings)
    yield agents, sent


async def test_ingest_agent_decides_or_dead_letters_every_case_and_masks_personal_data(
    worker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    agents, sent = worker
    cases = corpus(AGENT_CASES)
    valid = valid_messages(AGENT_CASES // 4, seed=SEED + 1, products=("p-1",))
    mixed = [m for pair in zip(cases, valid + [None] * len(cases)) for m in pair if m is not None]
    want_dlq = sum(c.expect == "dlq" for c in mixed)
    want = Counter((topic, c.event_id) for c in mixed if c.expect == "decide" for topic in c.decisions)
    caplog.set_level(logging.INFO)
    async with (
        agents[f"ingest.{EVENT_TOPICS[0]}"].test_context() as clicks,
        agents[f"ingest.{EVENT_TOPICS[1]}"].test_context() as searches,
        agents[f"ingest.{EVENT_TOPICS[2]}"].test_context() as orders,
    ):
        by_topic = dict(zip(EVENT_TOPICS, (clicks, searches, orders)))
        for case in mixed:
            await by_topic[case.topic].put(case.value, key=case.key, wait=False)
        deadline = time.monotonic() + SETTLE_S
        while len(sent) < want_dlq + want.total() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    dlq = [value for topic, value in sent if topic == DLQ]
    decided = Counter((topic, value.event_id) for topic, value in sent if topic in DECISION_TOPICS)
    assert len(dlq) == want_dlq
    assert Counter(r.error.split(":")[0] for r in dlq) == Counter(c.reason for c in mixed if c.expect == "dlq")
    assert decided == want
    pii = {p for c in mixed for p in c.pii}
    assert pii
    leaked_out = [v for _, v in sent if any(p.encode() in encode(v) for p in pii)]
    assert not leaked_out, leaked_out[:3]
    assert not [line for line in caplog.text.splitlines() if any(p in line for p in pii)]
    assert "Crashed" not in caplog.text
