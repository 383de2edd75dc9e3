"""The synthetic generator: reproducible, always valid, and calibrated to DESIGN.md §6."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schemas.catalog import Campaign, Product
from schemas.codec import decode_event, encode
from schemas.common import CATEGORIES
from schemas.decisions import decision_id_for
from schemas.events import EVENT_KINDS, KINDS_BY_TOPIC
from streams.synthetic import produce as produce_module
from streams.synthetic import scenarios
from streams.synthetic.produce import produce_file, produce_synthetic
from streams.synthetic.scenarios import Scenario, Shift
from streams.synthetic.traffic import iter_catalog, iter_events
from streams.synthetic.world import World, WorldConfig
from streams.topics import CAMPAIGNS, PRODUCTS
from triton_models.datasets import draw_dataset

START = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
RATE_EPS = 100.0
SAMPLE_EVENTS = 150_000
HEX_HASH = re.compile(r"^[0-9a-f]{32}$")
Message = tuple[str, str, dict[str, Any]]
SCENE_OF_KIND = {"search": "search", "page_view": "browse", "product_view": "product"}


@pytest.fixture(scope="module")
def world() -> World:
    return World.from_seed(7)


@pytest.fixture(scope="module")
def sample(world: World) -> list[Message]:
    return list(islice(iter_events(world, START, RATE_EPS, None), SAMPLE_EVENTS))


def _events(world: World, n: int, start: datetime = START, scenario: str | None = None) -> list[Message]:
    return list(islice(iter_events(world, start, RATE_EPS, scenario), n))


def test_same_seed_and_start_give_the_same_stream(world: World) -> None:
    assert _events(World.from_seed(7), 3000) == _events(world, 3000)
    assert _events(World.from_seed(8), 3000) != _events(world, 3000)
    assert _events(world, 3000, START + timedelta(seconds=1)) != _events(world, 3000)


def test_same_seed_gives_the_same_catalog() -> None:
    assert list(iter_catalog(World.from_seed(11))) == list(iter_catalog(World.from_seed(11)))


def test_every_event_validates_on_its_topic(sample: list[Message]) -> None:
    for topic, key, event in sample:
        decoded = decode_event(encode(event), topic)
        assert decoded.kind in KINDS_BY_TOPIC[topic]
        assert key == event["user_id"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_other_seeds_validate_too(seed: int) -> None:
    world = World.from_seed(seed, WorldConfig(products_per_category=10, campaigns_per_category=2, n_users=300))
    for topic, _, event in _events(world, 20_000):
        decode_event(encode(event), topic)


def test_event_ids_are_unique_and_ts_advance_by_one_over_rate(sample: list[Message]) -> None:
    ids = [e["event_id"] for _, _, e in sample]
    assert len(set(ids)) == len(ids)
    for i in (0, 1, 999, SAMPLE_EVENTS - 1):
        expected = START + timedelta(seconds=i / RATE_EPS)
        assert datetime.fromisoformat(sample[i][2]["ts"]) == expected


def test_every_kind_appears(sample: list[Message]) -> None:
    kinds = Counter(e["kind"] for _, _, e in sample)
    assert set(kinds) == EVENT_KINDS


def test_catalog_invariants(world: World) -> None:
    records = list(iter_catalog(world))
    products = [Product.model_validate(v) for t, _, v in records if t == PRODUCTS]
    campaigns = [Campaign.model_validate(v) for t, _, v in records if t == CAMPAIGNS]
    assert [t for t, _, _ in records] == [PRODUCTS] * len(products) + [CAMPAIGNS] * len(campaigns)
    assert all(k == v.get("product_id", v.get("campaign_id")) for _, k, v in records)
    assert {p.category for p in products} == set(CATEGORIES) == {c.category for c in campaigns}
    assert len({p.product_id for p in products}) == len(products)
    for p in products:
        assert 0 < p.unit_cost < p.min_price <= p.list_price <= p.max_price
        assert p.currency == "USD" and p.title
    for c in campaigns:
        assert c.currency == "USD" and c.max_cpc > 0 and c.daily_budget > 0
        assert set(c.locales) <= {"en-US", "zh-CN", "es-ES", "es-MX"}
    medians = {cat: np.median([p.list_price for p in products if p.category == cat]) for cat in CATEGORIES}
    assert medians["electronics"] > medians["fashion"] > medians["grocery"]
    assert -2.8 < float(np.mean(world.elasticities)) < -2.2


def test_users_and_fraudsters(world: World) -> None:
    assert 0 < len(world.fraudsters) < 0.05 * (len(world.users) + len(world.fraudsters))
    assert {u.locale for u in world.users} == {"en-US", "zh-CN", "es-ES", "es-MX"}
    assert max(u.account_age_days for u in world.fraudsters) < 7


def test_win_notices_and_clicks_follow_their_slot(sample: list[Message]) -> None:
    slots = {decision_id_for(e["event_id"], "bid") for _, _, e in sample if e.get("ad_slot")}
    seen_impressions = set()
    for _, _, e in sample:
        if e["kind"] == "ad_impression":
            assert e["decision_id"] in slots
            seen_impressions.add(e["decision_id"])
        elif e["kind"] == "ad_click":
            assert e["decision_id"] in seen_impressions


def test_chargebacks_and_refunds_follow_their_order(sample: list[Message]) -> None:
    orders: set[str] = set()
    for _, _, e in sample:
        if e["kind"] == "order":
            orders.add(e["order_id"])
            assert HEX_HASH.match(e["ip_hash"])
            assert e["payment"]["card_hash"] is None or HEX_HASH.match(e["payment"]["card_hash"])
            assert e["amount"] == pytest.approx(sum(i["quantity"] * i["unit_price"] for i in e["items"]), abs=0.011)
        elif e["kind"] in ("chargeback", "refund"):
            assert e["order_id"] in orders


def test_queries_speak_the_users_language(sample: list[Message]) -> None:
    queries = [e for _, _, e in sample if e["kind"] == "search"]
    chinese = [e for e in queries if e["locale"] == "zh-CN"]
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", e["query"])) for e in chinese) > 0.8 * len(chinese)
    spanish_words = ("para", "de", "barato", "oferta", "cargador", "cafetera", "galletas")
    spanish = [e for e in queries if e["locale"].startswith("es")]
    assert sum(any(w in e["query"].split() for w in spanish_words) for e in spanish) > 0.2 * len(spanish)
    assert all(len(e["query"]) >= 1 for e in queries)


def _ctr_by_scene(sample: list[Message]) -> dict[str, float]:
    scene_of_decision = {
        decision_id_for(e["event_id"], "bid"): SCENE_OF_KIND[e["kind"]] for _, _, e in sample if e.get("ad_slot")
    }
    shown: Counter[str] = Counter()
    clicked: Counter[str] = Counter()
    for _, _, e in sample:
        if e["kind"] == "ad_impression":
            shown[scene_of_decision[e["decision_id"]]] += 1
        elif e["kind"] == "ad_click":
            clicked[scene_of_decision[e["decision_id"]]] += 1
    display = (clicked["browse"] + clicked["product"]) / (shown["browse"] + shown["product"])
    return {"search": clicked["search"] / shown["search"], "display": display}


def test_ctr_by_slot_type_is_calibrated(sample: list[Message]) -> None:
    ctr = _ctr_by_scene(sample)
    assert 0.022 < ctr["search"] < 0.04
    assert 0.003 < ctr["display"] < 0.0075


def test_view_to_purchase_is_about_one_percent(sample: list[Message]) -> None:
    kinds = Counter(e["kind"] for _, _, e in sample)
    assert 0.007 < kinds["order"] / kinds["product_view"] < 0.014


def test_fraud_is_about_two_per_mille_of_orders(world: World) -> None:
    orders = draw_dataset("fraud", world, rows=150_000, seed=1)
    assert 0.001 < orders.positive_rate < 0.0035


def test_unknown_scenario_is_rejected_with_the_known_ones(world: World) -> None:
    with pytest.raises(ValueError, match="unknown scenario 'boom'; known: baseline"):
        iter_events(world, START, RATE_EPS, "boom")
    assert _events(world, 500, scenario="baseline") == _events(world, 500)


def test_naive_start_is_rejected(world: World) -> None:
    with pytest.raises(ValueError, match="time-zone aware"):
        iter_events(world, datetime(2026, 1, 1), RATE_EPS, None)


def test_scenario_hook_shifts_the_truth(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    clicky = Scenario("clicky", "irresistible ads after 10 s", lambda s, i: Shift(ctr_logit=6.0) if s >= 10 else Shift())
    monkeypatch.setitem(scenarios.SCENARIOS, "clicky", clicky)
    events = _events(world, 20_000, scenario="clicky")
    late = [e for _, _, e in events[2000:]]
    impressions = sum(e["kind"] == "ad_impression" for e in late)
    clicks = sum(e["kind"] == "ad_click" for e in late)
    assert clicks > 0.5 * impressions
    assert events[:1000] == _events(world, 1000)


class FakeProducer:
    """Stands in for ``AIOKafkaProducer``: records what is sent."""

    instances: list[FakeProducer] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.started = self.stopped = False
        FakeProducer.instances.append(self)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def flush(self) -> None:
        return None

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        import asyncio

        self.sent.append((topic, value, key))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.fixture
def fake_producer(monkeypatch: pytest.MonkeyPatch) -> type[FakeProducer]:
    FakeProducer.instances = []
    monkeypatch.setattr(produce_module, "AIOKafkaProducer", FakeProducer)
    return FakeProducer


async def test_produce_synthetic_sends_catalog_then_counted_events(fake_producer: type[FakeProducer]) -> None:
    progress: list[dict[str, int]] = []
    counts = await produce_synthetic(
        "127.0.0.1:1", rate_eps=5000.0, duration_s=None, max_events=400, seed=7, scenario=None,
        client_kwargs={"client_id": "t"}, on_progress=progress.append,
    )  # fmt: skip
    (producer,) = fake_producer.instances
    world = World.from_seed(7)
    n_catalog = len(world.products) + len(world.campaigns)
    assert producer.started and producer.stopped and producer.kwargs["client_id"] == "t"
    assert counts[PRODUCTS] == len(world.products) and counts[CAMPAIGNS] == len(world.campaigns)
    assert counts["events"] == 400 == sum(counts.get(t, 0) for t in KINDS_BY_TOPIC)
    assert sum(counts.get(k, 0) for ks in KINDS_BY_TOPIC.values() for k in ks) == 400
    catalog_topics = [PRODUCTS] * len(world.products) + [CAMPAIGNS] * len(world.campaigns)
    assert [t for t, _, _ in producer.sent[:n_catalog]] == catalog_topics
    for topic, value, key in producer.sent[n_catalog:]:
        event = decode_event(value, topic)
        assert key == event.user_id.encode()
        assert abs(event.ts - datetime.now(UTC)) < timedelta(minutes=1)
    assert progress[-1] == counts


async def test_produce_synthetic_paces_in_real_time(fake_producer: type[FakeProducer]) -> None:
    counts = await produce_synthetic(
        "127.0.0.1:1", rate_eps=200.0, duration_s=0.5, max_events=None, seed=7, scenario="baseline", client_kwargs={}
    )
    assert 60 <= counts["events"] <= 110


async def test_produce_synthetic_rejects_unknown_scenario_before_connecting(fake_producer: type[FakeProducer]) -> None:
    with pytest.raises(ValueError, match="known: baseline"):
        await produce_synthetic(
            "127.0.0.1:1", rate_eps=10.0, duration_s=1.0, max_events=None, seed=7, scenario="nope", client_kwargs={}
        )
    assert fake_producer.instances == []


async def test_produce_file_sends_every_line_raw_with_its_key(
    fake_producer: type[FakeProducer], tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    lines = [b'{"kind":"search","user_id":"u-1","query":"q"}', b"{not json", b'{"product_id":"p-1"}', b"[1,2]"]
    path.write_bytes(b"\n".join(lines[:2]) + b"\n\n" + b"\r\n".join(lines[2:]) + b"\n")
    assert await produce_file("127.0.0.1:1", path, "events.searches", {}) == 4
    (producer,) = fake_producer.instances
    assert producer.sent == [
        ("events.searches", lines[0], b"u-1"),
        ("events.searches", lines[1], None),
        ("events.searches", lines[2], b"p-1"),
        ("events.searches", lines[3], None),
    ]


def test_drift_scenario_shifts_at_its_event_index(world: World) -> None:
    def clicks(events: list) -> int:
        return sum(e["kind"] == "ad_click" for _, _, e in events)

    shifted = _events(world, 40_000, scenario="ctr-drop@20000")
    assert shifted[:20_000] == _events(world, 20_000)
    assert clicks(shifted[20_000:]) < 0.5 * clicks(shifted[:20_000])  # seed 7: 78 clicks before, 16 after
