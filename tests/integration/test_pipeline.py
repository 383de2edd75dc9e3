"""Events in, exactly the promised decisions out, through a real tansu broker, the real worker and real Triton."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from agents.profiles.model import profile_from_json
from agents.tables import PROFILES_TABLE, SPEND_TABLE
from schemas.codec import loads
from schemas.decisions import decision_id_for
from streams.consume import read_complete
from streams.embedded.triton import EmbeddedTriton
from streams.topics import (
    BIDS,
    CAMPAIGNS,
    CLICKS,
    DLQ,
    DRIFT_ALERTS,
    FRAUD,
    MODEL_EVENTS,
    ORDERS,
    PRICES,
    PRODUCTS,
    SEARCHES,
)
from tests.integration.conftest import start_broker
from tests.integration.pipeline import (
    MAX_REQUEST_BYTES,
    PARTITIONS,
    as_message,
    collect,
    create_topics,
    now_iso,
    probe_order,
    send,
    start_worker,
    wait_until_deciding,
)

pytestmark = pytest.mark.integration

PRODUCT = {"product_id": "p-case", "title": "Phone case", "category": "electronics", "currency": "USD",
           "list_price": 20.0, "unit_cost": 8.0, "min_price": 15.0, "max_price": 26.0, "stock": 40}
CAMPAIGN = {"campaign_id": "c-elec", "ad_id": "ad-elec", "category": "electronics", "locales": [],
            "max_cpc": 1.2, "daily_budget": 500.0, "currency": "USD"}


def event(kind: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "event_id": event_id, "ts": now_iso(), "user_id": f"u-{event_id}", "channel": "web",
            "locale": "en-US", **fields}


ORDER_FIELDS = {"order_id": "o-1", "items": [{"product_id": "p-case", "quantity": 1, "unit_price": 20.0}],
                "amount": 20.0, "currency": "USD", "payment": {"method": "card", "card_hash": "ab"}}


def valid_events() -> list[tuple[str, dict[str, Any]]]:
    return [
        (CLICKS, event("product_view", "pv-slot", product_id="p-case", ad_slot={"slot_id": "s1", "floor_cpm": 0.01})),
        (CLICKS, event("product_view", "pv-plain", product_id="p-case")),
        (CLICKS, event("product_view", "pv-unknown", product_id="p-missing")),
        (CLICKS, event("page_view", "page-slot", page="/", ad_slot={"slot_id": "s2", "floor_cpm": 999.0})),
        (CLICKS, event("page_view", "page-plain", page="/deals")),
        (CLICKS, event("add_to_cart", "cart-1", product_id="p-case", quantity=1, price=20.0)),
        (CLICKS, event("ad_impression", "imp-1", decision_id="bid-x", campaign_id="c-elec", clearing_cpm=1.0)),
        (SEARCHES, event("search", "search-slot", query="手机壳", locale="zh-CN", ad_slot={"slot_id": "s3"})),
        (SEARCHES, event("search", "search-plain", query="funda para móvil", locale="es-ES")),
        (ORDERS, event("order", "order-1", **ORDER_FIELDS)),
        (ORDERS, event("chargeback", "cb-1", order_id="o-0")),
    ]


EXPECTED = {
    BIDS: {"pv-slot", "page-slot", "search-slot"},
    PRICES: {"pv-slot", "pv-plain"},
    FRAUD: {"order-1"},
}

MALFORMED: list[tuple[str, bytes, str]] = [
    (CLICKS, b'{"kind": "page_view", "event_id": ', "invalid_json"),
    (CLICKS, orjson.dumps(event("add_to_cart", "bad-type", product_id="p", quantity="two", price=1)), "validation_error"),
    (ORDERS, orjson.dumps({"kind": "order", "event_id": "bad-missing", "ts": "2026-01-01T00:00:00Z"}), "validation_error"),
    (SEARCHES, orjson.dumps(event("teleport", "bad-kind")), "unknown_kind"),
    (CLICKS, orjson.dumps(event("page_view", "bad-huge", page="x" * 2_000_000)), "too_large"),
    (ORDERS, b'{"kind": "refund", "order_id": "\xff\xfe"}', "invalid_utf8"),
]


@pytest.fixture(scope="module")
def pipeline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, triton: EmbeddedTriton) -> str:
    """A fresh broker with catalog loaded and a worker deciding against the session's Triton."""
    bootstrap = start_broker(request, tmp_path_factory)
    asyncio.run(create_topics(bootstrap))
    asyncio.run(send(bootstrap, [as_message(PRODUCTS, PRODUCT), as_message(CAMPAIGNS, CAMPAIGN)]))
    worker = start_worker(bootstrap, triton.grpc_url, tmp_path_factory.mktemp("worker"))
    request.addfinalizer(worker.stop)
    asyncio.run(wait_until_deciding(bootstrap, worker))
    return bootstrap


def test_exactly_the_promised_decisions_and_every_bad_message_in_dlq(pipeline: str) -> None:
    good = [as_message(topic, e) for topic, e in valid_events()]
    bad = [(topic, b"u-bad", raw) for topic, raw, _ in MALFORMED]
    interleaved = [m for pair in zip(good, bad + [None] * len(good)) for m in pair if m is not None]
    asyncio.run(send(pipeline, interleaved))
    want = sum(len(ids) for ids in EXPECTED.values()) + len(MALFORMED) + 1  # +1: the probe's fraud decision
    records = asyncio.run(collect(pipeline, [BIDS, PRICES, FRAUD, DLQ], lambda out: len(out) >= want, timeout_s=60))
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for topic, value in records:
        if not str(value.get("event_id", "")).startswith("probe-"):
            by_topic.setdefault(topic, []).append(value)

    for topic, ids in EXPECTED.items():
        got = [d["event_id"] for d in by_topic.get(topic, [])]
        assert sorted(got) == sorted(ids), f"{topic}: got {got}"
        for d in by_topic[topic]:
            assert d["decision_id"] == decision_id_for(d["event_id"], {BIDS: "bid", PRICES: "price", FRAUD: "fraud"}[topic])
            assert d["degraded"] is False and d["model_version"].split(":")[0] in ("ctr", "conversion", "fraud")

    for price in by_topic[PRICES]:
        assert PRODUCT["min_price"] <= price["price"] <= PRODUCT["max_price"]
    bids = {d["event_id"]: d for d in by_topic[BIDS]}
    for bid in bids.values():
        assert bid["bid_cpm"] == 0 or bid["bid_cpm"] <= 1000 * bid["p_ctr"] * CAMPAIGN["max_cpc"] + 1e-9
    assert bids["page-slot"]["bid_cpm"] == 0 and "below_floor" in bids["page-slot"]["reasons"]
    assert by_topic[FRAUD][0]["action"] in ("allow", "review", "block")

    dlq = by_topic.get(DLQ, [])
    reasons = Counter(d["error"].split(":")[0] for d in dlq)
    assert reasons == Counter(reason for _, _, reason in MALFORMED), dlq
    huge = next(d for d in dlq if d["error"].startswith("too_large"))
    # Dead letters keep the first dlq_payload_max_bytes (default 1 MB) and say when they cut.
    assert huge["payload_bytes"] > 2_000_000 and huge["payload_truncated"] and len(huge["payload"]) == 1_000_000
    assert all(d["source_topic"] in (CLICKS, SEARCHES, ORDERS) and d["offset"] >= 0 for d in dlq)


def test_table_changelogs_hold_each_write_on_its_users_input_partition(pipeline: str) -> None:
    """Profile and spend changelog records (written without Faust's send path) are what recovery reads back.

    Each lands on the partition of its user's input records (the tables are co-partitioned
    with the input topics), and its value decodes to the user's profile or a spend amount.
    """
    mine = [as_message(CLICKS, event("product_view", f"cl-view-{i}", product_id="p-case")) for i in range(6)]
    mine += [as_message(CLICKS, event("ad_impression", f"cl-win-{i}", decision_id=f"bid-cl-{i}", campaign_id="c-elec",
                                      clearing_cpm=1.0)) for i in range(6)]  # fmt: skip
    asyncio.run(send(pipeline, [*mine, probe_order("cl-last")]))  # the probe's decision: every earlier batch is done
    asyncio.run(collect(pipeline, [FRAUD], lambda out: any(v["event_id"] == "cl-last" for _, v in out), timeout_s=60))
    users = {key for _, key, _ in mine}
    input_partition = {key: partition for key, (partition, _) in asyncio.run(_records(pipeline, [CLICKS])).items()}
    assert len({input_partition[user] for user in users}) == PARTITIONS  # the users span every partition
    topics = asyncio.run(_topics(pipeline))
    [profiles] = [t for t in topics if t.endswith(f"-{PROFILES_TABLE}-changelog")]
    [spend] = [t for t in topics if t.endswith(f"-{SPEND_TABLE}-changelog")]
    written = asyncio.run(_records(pipeline, [profiles]))
    assert users <= set(written), sorted(written)
    for user in users:
        partition, value = written[user]
        assert partition == input_partition[user] and profile_from_json(value).user_id == user.decode()
    spent = asyncio.run(_records(pipeline, [spend]))
    wins = {input_partition[key] for _, key, _ in mine[6:]}
    assert {int(key.decode().split("|")[1]) for key in spent} >= wins
    for key, (partition, value) in spent.items():
        assert partition == int(key.decode().split("|")[1]) and loads(value) > 0


async def _records(bootstrap: str, topics: list[str]) -> dict[bytes, tuple[int, bytes]]:
    """Partition and last value of each key in ``topics``; a key on two partitions fails the test."""
    out: dict[bytes, tuple[int, bytes]] = {}
    async for record in read_complete(bootstrap, topics, max_message_bytes=MAX_REQUEST_BYTES):
        if record.key is None or record.value is None:
            continue
        if record.key in out and out[record.key][0] != record.partition:
            raise AssertionError(f"{record.key!r} on partitions {out[record.key][0]} and {record.partition}")
        out[record.key] = (record.partition, record.value)
    return out


async def _topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


def test_redelivered_events_get_the_same_decision_ids(pipeline: str) -> None:
    messages = [
        as_message(CLICKS, event("product_view", "rd-pv", product_id="p-case", ad_slot={"slot_id": "s9"})),
        as_message(ORDERS, event("order", "rd-order", **ORDER_FIELDS)),
    ]
    asyncio.run(send(pipeline, messages))
    asyncio.run(send(pipeline, messages))
    ids = {decision_id_for("rd-pv", "bid"), decision_id_for("rd-pv", "price"), decision_id_for("rd-order", "fraud")}

    def twice_each(records: list[tuple[str, dict[str, Any]]]) -> bool:
        seen = Counter(v["decision_id"] for _, v in records)
        return all(seen[i] >= 2 for i in ids)

    records = asyncio.run(collect(pipeline, [BIDS, PRICES, FRAUD], twice_each, timeout_s=60))
    mine = [v for _, v in records if v["decision_id"] in ids]
    assert Counter(v["decision_id"] for v in mine) == Counter({i: 2 for i in ids})
    for decision_id in ids:
        first, second = (v for v in mine if v["decision_id"] == decision_id)
        assert same_decision(first, second), (first, second)


def same_decision(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal but for timing, and for model scores within float noise (batch composition changes the sums)."""
    volatile = {"decided_at", "latency_ms"}
    for key in (a.keys() | b.keys()) - volatile:
        x, y = a.get(key), b.get(key)
        if isinstance(x, float) and isinstance(y, float):
            if x != pytest.approx(y, rel=1e-4, abs=1e-6):
                return False
        elif x != y:
            return False
    return True


def test_report_verb_summarises_what_the_broker_holds(pipeline: str, tmp_path: Path) -> None:
    slot = {"slot_id": "s-rep"}
    views = [as_message(CLICKS, event("product_view", f"rep-pv-{i}", product_id="p-case", ad_slot=slot))
             for i in range(3)]
    asyncio.run(send(pipeline, [*views, as_message(ORDERS, event("order", "rep-order", **ORDER_FIELDS)),
                                (CLICKS, b"u-rep-bad", b'{"kind": "page_view", ')]))
    mine = {decision_id_for(f"rep-pv-{i}", t) for i in range(3) for t in ("bid", "price")}
    mine.add(decision_id_for("rep-order", "fraud"))
    topics = [BIDS, PRICES, FRAUD, DLQ, DRIFT_ALERTS, MODEL_EVENTS]

    def arrived(out: list[tuple[str, dict[str, Any]]]) -> bool:
        return mine <= {v.get("decision_id") for _, v in out} and any(v.get("key") == "u-rep-bad" for _, v in out)

    asyncio.run(collect(pipeline, topics, arrived, timeout_s=60))
    # Everything the topics hold now (this module's earlier tests wrote to them too).
    held = asyncio.run(collect(pipeline, topics, lambda out: False, timeout_s=5))
    by_topic = Counter(topic for topic, _ in held)
    out = tmp_path / "run.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMDECIDE_")}
    env.update(STREAMDECIDE_KAFKA_BOOTSTRAP=pipeline, STREAMDECIDE_DATA_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "streams.cli", "report", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = orjson.loads(done.stdout.strip().splitlines()[-1])

    assert summary["decisions"] == {"bids": by_topic[BIDS], "prices": by_topic[PRICES], "fraud": by_topic[FRAUD]}
    assert summary["decisions"]["bids"] >= 3 and summary["decisions"]["fraud"] >= 1
    assert summary["dlq"] == by_topic[DLQ] and summary["dlq_reasons"]["invalid_json"] >= 1
    assert summary["drift_alerts"] == by_topic[DRIFT_ALERTS] and summary["model_events"] == by_topic[MODEL_EVENTS]
    assert summary["events_decided"] == len({v["event_id"] for t, v in held if t in (BIDS, PRICES, FRAUD)})
    page = out.read_text(encoding="utf-8")
    assert summary["html"] == str(out) and (tmp_path / "run.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert '<img alt="' in page and "data:image/png;base64,iVBORw0KGgo" in page
    for name, topic in (("bids", BIDS), ("prices", PRICES), ("fraud", FRAUD)):
        assert f'<tr data-key="decisions.{name}"><th>decisions: {name}</th><td class="n">{by_topic[topic]}</td>' in page
    assert f'<tr data-key="dlq"><th>dead letters (ops.dlq)</th><td class="n">{by_topic[DLQ]}</td>' in page
