"""Hand-written decision scenarios through a real tansu broker, the real worker and the real Triton models.

Each scenario uses its own users, so the scenarios share one worker. The search
scenario goes through the served ``query_intent`` model as well.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.reasons import Reason
from streams.embedded.process import free_port
from streams.embedded.triton import EmbeddedTriton
from streams.topics import BIDS, CAMPAIGNS, CLICKS, FRAUD, ORDERS, PRICES, PRODUCTS, SEARCHES
from tests.integration.conftest import start_broker
from tests.integration.pipeline import as_message, collect, create_topics, send, start_worker, wait_until_deciding

pytestmark = pytest.mark.integration

DECIDE_TIMEOUT_S = 60.0
TOY = {"product_id": "p-robot", "title": "Robot kit", "category": "toys", "currency": "USD",
       "list_price": 30.0, "unit_cost": 12.0, "min_price": 24.0, "max_price": 36.0, "stock": 80}
CASE = {"product_id": "p-case", "title": "Phone case", "category": "electronics", "currency": "USD",
        "list_price": 20.0, "unit_cost": 8.0, "min_price": 15.0, "max_price": 26.0, "stock": 40}
TOY_CAMPAIGN = {"campaign_id": "c-toys", "ad_id": "ad-toys", "category": "toys", "locales": [],
                "max_cpc": 0.6, "daily_budget": 4.0, "currency": "USD"}
ELEC_CAMPAIGN = {"campaign_id": "c-elec", "ad_id": "ad-elec", "category": "electronics", "locales": [],
                 "max_cpc": 1.2, "daily_budget": 500.0, "currency": "USD"}


def ts(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def new_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def event(kind: str, user: str, event_id: str, at: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "event_id": event_id, "ts": at or ts(), "user_id": user, "session_id": f"s-{user}",
            "channel": "web", "locale": "en-US", "country": "US", **fields}


def order(user: str, n: int, amount: float, card: str, *, at: str, age_days: int, ship: str = "US") -> dict[str, Any]:
    return event(
        "order", user, f"{user}-order-{n}", at, order_id=f"{user}-o{n}",
        items=[{"product_id": TOY["product_id"], "quantity": 1, "unit_price": amount}], amount=amount,
        currency="USD", payment={"method": "card", "card_hash": card, "card_bin": "411111"},
        billing_country="US", shipping_country=ship, account_age_days=age_days, ip_hash=f"ip-{user}",
    )  # fmt: skip


@pytest.fixture(scope="module")
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, triton: EmbeddedTriton) -> str:
    """A fresh broker with the scenario catalog and a worker deciding against the session's Triton."""
    bootstrap = start_broker(request, tmp_path_factory)
    asyncio.run(create_topics(bootstrap))
    catalog = [as_message(PRODUCTS, TOY), as_message(PRODUCTS, CASE),
               as_message(CAMPAIGNS, TOY_CAMPAIGN), as_message(CAMPAIGNS, ELEC_CAMPAIGN)]  # fmt: skip
    asyncio.run(send(bootstrap, catalog))
    worker = start_worker(bootstrap, triton.grpc_url, tmp_path_factory.mktemp("worker"), metrics_port=str(free_port()))
    request.addfinalizer(worker.stop)
    asyncio.run(wait_until_deciding(bootstrap, worker))
    return bootstrap


def publish(bootstrap: str, messages: Iterable[tuple[str, dict[str, Any]]]) -> None:
    asyncio.run(send(bootstrap, [as_message(topic, e) for topic, e in messages]))


def decisions(bootstrap: str, topic: str, event_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The decisions on ``topic`` about ``event_ids``, waiting until each has one."""

    def complete(records: list[tuple[str, dict[str, Any]]]) -> bool:
        return event_ids <= {v.get("event_id") for _, v in records}

    records = asyncio.run(collect(bootstrap, [topic], complete, timeout_s=DECIDE_TIMEOUT_S))
    found = {v["event_id"]: v for _, v in records if v.get("event_id") in event_ids}
    assert set(found) == event_ids, f"{topic}: decided {sorted(found)} of {sorted(event_ids)}"
    return found


def test_burst_of_orders_from_a_new_account_on_a_new_card_is_blocked_with_its_reasons(service: str) -> None:
    user = new_user("u-fraud")
    start = timedelta(minutes=-10)
    prior = [order(user, n, 20.0, "card-A", at=ts(start + timedelta(minutes=2 * n)), age_days=0) for n in range(4)]
    fifth = order(user, 4, 400.0, "card-B", at=ts(), age_days=0, ship="NG")
    publish(service, [(ORDERS, o) for o in (*prior, fifth)])
    decided = decisions(service, FRAUD, {o["event_id"] for o in (*prior, fifth)})
    last = decided[fifth["event_id"]]
    assert last["action"] == "block", last
    for code in (Reason.VELOCITY_ORDERS_1H, Reason.AMOUNT_SPIKE, Reason.COUNTRY_MISMATCH,
                 Reason.NEW_ACCOUNT_HIGH_AMOUNT, Reason.NEW_CARD):  # fmt: skip
        assert code.value in last["reasons"], last["reasons"]
    assert last["reasons"][0] == Reason.HIGH_RISK.value
    assert any(r.startswith("feature_") for r in last["reasons"]), last["reasons"]
    assert last["scene"] == "checkout" and last["degraded"] is False and last["risk_score"] >= 0.8
    assert Reason.VELOCITY_ORDERS_1H.value not in decided[prior[-1]["event_id"]]["reasons"]


def test_returning_customers_ordinary_order_is_allowed(service: str) -> None:
    user = new_user("u-loyal")
    history = [order(user, n, 28.0 + n, "card-L", at=ts(timedelta(days=n - 30)), age_days=870 + n) for n in range(3)]
    today = order(user, 3, 31.0, "card-L", at=ts(), age_days=900)
    publish(service, [(ORDERS, o) for o in (*history, today)])
    last = decisions(service, FRAUD, {today["event_id"]})[today["event_id"]]
    assert last["action"] == "allow", last
    assert last["reasons"] == [Reason.LOW_RISK.value], last["reasons"]
    assert last["risk_score"] < 0.05


def test_floor_above_the_campaigns_value_gets_no_bid(service: str) -> None:
    user = new_user("u-floor")
    view = event("product_view", user, f"{user}-pv", product_id=CASE["product_id"],
                 ad_slot={"slot_id": "slot-product-1", "floor_cpm": 2000.0})  # fmt: skip
    publish(service, [(CLICKS, view)])
    bid = decisions(service, BIDS, {view["event_id"]})[view["event_id"]]
    assert bid["bid_cpm"] == 0 and bid["reasons"] == [Reason.BELOW_FLOOR.value], bid
    assert bid["p_ctr"] > 0 and bid["model_version"].startswith("ctr:") and bid["scene"] == "product"


def test_campaign_stops_bidding_once_its_budget_is_spent(service: str) -> None:
    user = new_user("u-budget")
    slot = {"slot_id": "slot-product-2", "floor_cpm": 0.01}
    first = event("product_view", user, f"{user}-pv1", product_id=TOY["product_id"], ad_slot=slot)
    publish(service, [(CLICKS, first)])
    bid = decisions(service, BIDS, {first["event_id"]})[first["event_id"]]
    assert bid["bid_cpm"] > 0 and bid["campaign_id"] == TOY_CAMPAIGN["campaign_id"], bid
    share = TOY_CAMPAIGN["daily_budget"] / 2  # the worker runs with 2 partitions, each spends its share
    win = event("ad_impression", user, f"{user}-win", decision_id=bid["decision_id"],
                campaign_id=TOY_CAMPAIGN["campaign_id"], clearing_cpm=share * 1000)  # fmt: skip
    second = event("product_view", user, f"{user}-pv2", product_id=TOY["product_id"], ad_slot=slot)
    publish(service, [(CLICKS, win), (CLICKS, second)])
    after = decisions(service, BIDS, {second["event_id"]})[second["event_id"]]
    assert after["bid_cpm"] == 0 and after["reasons"] == [Reason.BUDGET_SPENT.value], after


def test_chinese_search_for_a_phone_case_bids_for_the_electronics_campaign(service: str) -> None:
    user = new_user("u-zh")
    searches = [
        event("search", user, f"{user}-q{n}", locale=locale, query=query,
              ad_slot={"slot_id": f"slot-search-{n}", "floor_cpm": 0.01})
        for n, (query, locale) in enumerate([("手机壳", "zh-CN"), ("funda para móvil", "es-ES")])
    ]  # fmt: skip
    publish(service, [(SEARCHES, s) for s in searches])
    bids = decisions(service, BIDS, {s["event_id"] for s in searches})
    zh, es = (bids[s["event_id"]] for s in searches)
    assert (zh["query_category"], zh["language"], zh["scene"]) == ("electronics", "zh", "search"), zh
    assert zh["campaign_id"] == ELEC_CAMPAIGN["campaign_id"] and zh["bid_cpm"] > 0, zh
    assert (es["query_category"], es["language"], es["campaign_id"]) == ("electronics", "es", "c-elec"), es


def test_scene_switches_within_a_session_and_keeps_its_context(service: str) -> None:
    user = new_user("u-journey")
    slot = {"slot_id": "slot-browse-0", "floor_cpm": 0.01}
    steps = [
        (SEARCHES, event("search", user, f"{user}-1", query="robot kit", ad_slot={"slot_id": "slot-search-0"})),
        (CLICKS, event("product_view", user, f"{user}-2", product_id=TOY["product_id"])),
        (CLICKS, event("add_to_cart", user, f"{user}-3", product_id=TOY["product_id"], quantity=1, price=30.0)),
        (CLICKS, event("page_view", user, f"{user}-4", page="/cart", ad_slot=slot)),
        (ORDERS, order(user, 5, 30.0, "card-J", at=ts(), age_days=400)),
        (CLICKS, event("page_view", user, f"{user}-6", page="/", ad_slot=slot)),
    ]
    # Topics are consumed concurrently, so each step that must see the one before it on another
    # topic waits for that step's decision (within a topic, order is kept).
    publish(service, steps[:4])
    bids = decisions(service, BIDS, {f"{user}-1", f"{user}-4"})
    price = decisions(service, PRICES, {f"{user}-2"})[f"{user}-2"]
    publish(service, steps[4:5])
    fraud = decisions(service, FRAUD, {f"{user}-order-5"})[f"{user}-order-5"]
    publish(service, steps[5:])
    bids |= decisions(service, BIDS, {f"{user}-6"})
    scenes = [bids[f"{user}-1"]["scene"], price["scene"], bids[f"{user}-4"]["scene"], fraud["scene"],
              bids[f"{user}-6"]["scene"]]  # fmt: skip
    assert scenes == ["search", "product", "cart", "checkout", "post_purchase"]
    experiment = price["experiment"]
    assert experiment["name"] and experiment["arm"] in ("model", "list_price") and 0 < experiment["propensity"] <= 1
    assert TOY["min_price"] <= price["price"] <= TOY["max_price"]
