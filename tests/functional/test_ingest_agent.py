"""The real ingest agent under Faust's ``test_context()``: profiles land in the Faust table, decisions go out.

No broker: Faust's test wrapper feeds records straight into the agent's stream;
the output topics' ``send`` is replaced by a collector (one fixture per outbound
dependency, as in Faust's testing guide) and Triton by a fixed scorer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from agents import ingest
from agents.context import DecisionContext, Incoming
from agents.profiles.buckets import VelocityBucket, bucket_start_ms
from agents.profiles.model import profile_from_json
from agents.tables import ChangelogRecord, TableStore, WindowedTableStore
from streams.settings import Settings
from streams.topics import BIDS, CLICKS, DLQ, FRAUD, ORDERS, PRICES
from tests.functional.ingest_harness import ingest_agents

SETTLE_S = 5.0


@pytest.fixture
def changelog() -> list[ChangelogRecord]:
    """The table changelog records the agents hand to the producer."""
    return []


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch,
           changelog: list[ChangelogRecord]) -> Iterator[tuple[Any, DecisionContext, list[tuple[str, Any]]]]:  # fmt: skip
    settings = Settings(_env_file=None, kafka_bootstrap="127.0.0.1:1", topic_partitions=1)
    agents, ctx, sent = ingest_agents(monkeypatch, settings, changelog)
    yield agents, ctx, sent


def raw(event: dict[str, Any]) -> bytes:
    return orjson.dumps({"ts": datetime.now(UTC).isoformat(), "user_id": "u-1", "session_id": "s-1",
                         "channel": "app", "locale": "en-US", **event})  # fmt: skip


async def settle(sent: list[tuple[str, Any]], count: int) -> None:
    deadline = time.monotonic() + SETTLE_S
    while len(sent) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def test_profiles_are_written_to_the_faust_table_and_decisions_sent(worker: Any,
                                                                         changelog: list[ChangelogRecord]) -> None:  # fmt: skip
    agents, ctx, sent = worker
    assert isinstance(ctx.profiles, TableStore)
    clicks, orders = agents[f"ingest.{CLICKS}"], agents[f"ingest.{ORDERS}"]
    async with clicks.test_context() as click_agent, orders.test_context() as order_agent:
        await click_agent.put(raw({"kind": "product_view", "event_id": "v1", "product_id": "p-1",
                                   "ad_slot": {"slot_id": "s1", "floor_cpm": 0.5}}), key=b"u-1", wait=False)  # fmt: skip
        await click_agent.put(b'{"kind": "page_view"', key=b"u-1", wait=False)
        await settle(sent, 3)  # the view is decided before the order arrives: the order is the profile's last event
        await order_agent.put(raw({"kind": "order", "event_id": "o1", "order_id": "o-1", "amount": 20,
                                   "currency": "USD", "items": [{"product_id": "p-1", "quantity": 1, "unit_price": 20}],
                                   "payment": {"method": "card", "card_hash": "h"}}), key=b"u-1", wait=False)  # fmt: skip
        await settle(sent, 4)
    topics = sorted(topic for topic, _ in sent)
    assert topics == sorted([BIDS, PRICES, FRAUD, DLQ]), sent
    profile = ctx.profiles.get("u-1")
    assert profile is not None and profile.orders == 1 and profile.events == 2
    assert profile.session.scene == "checkout" and dict(profile.affinity) == {"electronics": 6.0}
    assert ctx.profiles.table.get(b"u-1") is profile
    profile_topic = ctx.profiles.table.changelog_topic.get_topic_name()
    written = [r for r in changelog if r.topic == profile_topic]
    assert [(r.partition, r.key) for r in written] == [(0, b"u-1")] * 2  # one write per user per batch
    assert profile_from_json(written[-1].value) == profile
    assert isinstance(ctx.velocity, WindowedTableStore) and profile.velocity_buckets
    start = profile.velocity_buckets[-1]
    assert start == bucket_start_ms(profile.last_order_ms, ctx.settings.profiles.velocity_bucket_s * 1000)
    window_key = ("u-1", (start / 1000, start / 1000 + ctx.settings.profiles.velocity_bucket_s - 0.1))
    bucket = VelocityBucket(1, 20.0, (profile.history[0].card,))
    assert dict(ctx.velocity.table.items()) == {window_key: bucket}
    decisions = {topic: value for topic, value in sent}
    assert decisions[BIDS].scene == "product" and decisions[FRAUD].scene == "checkout"
    assert decisions[PRICES].experiment is not None


async def test_win_notices_spend_the_budget_in_the_spend_table(worker: Any) -> None:
    agents, ctx, sent = worker
    clicks = agents[f"ingest.{CLICKS}"]
    async with clicks.test_context() as agent:
        await agent.put(raw({"kind": "ad_impression", "event_id": "w1", "decision_id": "bid-x", "campaign_id": "c-1",
                             "clearing_cpm": 250_000.0}), key=b"u-1", wait=False)  # fmt: skip
        await agent.put(raw({"kind": "product_view", "event_id": "v2", "product_id": "p-1",
                             "ad_slot": {"slot_id": "s1", "floor_cpm": 0.5}}), key=b"u-1", wait=False)  # fmt: skip
        await settle(sent, 2)
    bid = next(value for topic, value in sent if topic == BIDS)
    assert bid.bid_cpm == 0 and bid.reasons == ["budget_spent"]
    assert isinstance(ctx.budget.spend, TableStore) and ctx.budget.spend.table.keys()


async def test_an_event_that_breaks_its_batch_is_dead_lettered_and_the_rest_decided(
    worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents, ctx, sent = worker
    real_decide = ingest.decide_batch

    async def decide_with_a_bug(good: list[Incoming], context: DecisionContext) -> Any:
        if any(item.event.event_id == "poison" for item in good):
            raise RuntimeError("bug triggered by bob@example.com")
        return await real_decide(good, context)

    monkeypatch.setattr(ingest, "decide_batch", decide_with_a_bug)
    clicks = agents[f"ingest.{CLICKS}"]
    views = [raw({"kind": "product_view", "event_id": event_id, "product_id": "p-1",
                  "ad_slot": {"slot_id": "s1", "floor_cpm": 0.5}}) for event_id in ("v1", "poison", "v2")]  # fmt: skip
    async with clicks.test_context() as agent:
        for value in views:
            await agent.put(value, key=b"u-1", wait=False)
        await settle(sent, 5)
    letters = [value for topic, value in sent if topic == DLQ]
    assert [(letter.offset, letter.error.split(":")[0]) for letter in letters] == [(1, "decision_failed")], letters
    assert "RuntimeError: bug triggered by" in letters[0].error and "bob@" not in letters[0].error
    decided = sorted(value.event_id for topic, value in sent if topic in (BIDS, PRICES))
    assert decided == ["v1", "v1", "v2", "v2"], sent
