"""Profiles, sessions, scenes and velocity: pure updates on hand-written event sequences."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.profiles.buckets import DAY_MS, HOUR_MS, bucket_start_ms
from agents.profiles.counters import VelocityCounters
from agents.profiles.model import Profile, profile_from_json, profile_to_json
from agents.profiles.summary import channel_mix, rfm, top_categories
from agents.profiles.update import event_scene, ts_ms, update_profile
from agents.profiles.velocity import WINDOW_FIELDS, Velocity, order_mark
from agents.tables import MemoryWindowedStore
from schemas.events import EVENT_ADAPTER, Event, Order
from streams.logs import hash_pii
from streams.settings import ProfilePolicy

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)
KEY = "test-pii-key-0123"
Step = tuple[str, int, str | None, tuple[str, ...]]
POLICY = ProfilePolicy()


def ev(kind: str, n: int, at: datetime = T0, session: str | None = "s1", **fields: Any) -> Event:
    return EVENT_ADAPTER.validate_python(
        {"kind": kind, "event_id": f"e{n}", "ts": at.isoformat(), "user_id": "u1", "session_id": session,
         "channel": fields.pop("channel", "web"), **fields}
    )  # fmt: skip


def order(n: int, amount: float, at: datetime, card: str | None = "card-1", ship: str = "US", **fields: Any) -> Event:
    return ev(
        "order", n, at, order_id=f"o{n}", items=[{"product_id": "p", "quantity": 1, "unit_price": amount}],
        amount=amount, currency="USD", payment={"method": "card", "card_hash": card}, billing_country="US",
        shipping_country=ship, ip_hash="ip-raw-1", **fields,
    )  # fmt: skip


def run(events: list[tuple[Event, tuple[str, ...]]], start: Profile | None = None,
        policy: ProfilePolicy = POLICY) -> list[Profile]:  # fmt: skip
    """Profiles after each event (``(event, its categories)``)."""
    out, profile = [], start
    for event, categories in events:
        profile = update_profile(profile, event, categories=categories, policy=policy, pii_key=KEY)
        out.append(profile)
    return out


def test_scene_switches_within_a_session_and_the_session_keeps_its_context() -> None:
    journey = [
        (ev("search", 1, query="robot"), ()),
        (ev("product_view", 2, T0 + timedelta(seconds=5), product_id="p"), ("toys",)),
        (ev("add_to_cart", 3, T0 + timedelta(seconds=9), product_id="p", quantity=2, price=15.0), ("toys",)),
        (ev("page_view", 4, T0 + timedelta(seconds=12), page="/checkout"), ()),
        (order(5, 30.0, T0 + timedelta(seconds=20)), ("toys",)),
        (ev("page_view", 6, T0 + timedelta(seconds=25), page="/"), ()),
        (ev("ad_impression", 7, T0 + timedelta(seconds=26), decision_id="b", campaign_id="c", clearing_cpm=1.0), ()),
        (ev("product_view", 8, T0 + timedelta(seconds=30), product_id="q"), ("books",)),
    ]
    profiles = run(journey)
    scenes = [event_scene(p, e) for p, (e, _) in zip(profiles, journey, strict=True)]
    assert scenes == ["search", "product", "cart", "checkout", "checkout", "post_purchase", "post_purchase", "product"]
    at_checkout = profiles[3].session
    assert at_checkout.category == "toys" and at_checkout.cart_items == 2 and at_checkout.cart_value == 30.0
    assert profiles[4].session.ordered and profiles[4].session.cart_items == 0
    assert {p.session.session_id for p in profiles} == {"s1"} and profiles[-1].session.events == len(journey)
    assert profiles[-1].sessions == 1 and profiles[-1].session.category == "books"


def test_a_new_session_starts_on_a_new_id_or_after_the_idle_timeout() -> None:
    idle = timedelta(seconds=POLICY.session_timeout_s + 1)
    profiles = run([
        (ev("page_view", 1, page="/", channel="app"), ()),
        (ev("page_view", 2, T0 + timedelta(minutes=1), session="s2", page="/", channel="store"), ()),
        (ev("page_view", 3, T0 + timedelta(minutes=2), session=None, page="/", channel="store"), ()),
        (ev("page_view", 4, T0 + timedelta(minutes=2) + idle, session=None, page="/", channel="web"), ()),
    ])  # fmt: skip
    assert [p.sessions for p in profiles] == [1, 2, 2, 3]
    assert channel_mix(profiles[-1]) == {"app": 1 / 3, "store": 1 / 3, "web": 1 / 3}


def test_back_office_events_leave_the_session_alone() -> None:
    first, after = run([
        (ev("product_view", 1, product_id="p"), ("toys",)),
        (ev("chargeback", 2, T0 + timedelta(days=3), session=None, order_id="o-old"), ()),
    ])  # fmt: skip
    assert after.session == first.session and after.chargebacks == 1
    assert event_scene(after, ev("chargeback", 2, session=None, order_id="o-old")) == "post_purchase"


def test_rfm_and_affinity_come_from_views_carts_and_orders() -> None:
    profiles = run([
        (ev("product_view", 1, product_id="p"), ("books",)),
        (ev("add_to_cart", 2, product_id="p", quantity=1, price=5.0), ("toys",)),
        (order(3, 40.0, T0), ("toys", "home")),
        (order(4, 60.0, T0 + timedelta(days=1)), ("toys",)),
    ])  # fmt: skip
    last = profiles[-1]
    assert rfm(last, ts_ms(ev("page_view", 9, T0 + timedelta(days=3), page="/"))).frequency == 2
    summary = rfm(last, int((T0 + timedelta(days=3)).timestamp() * 1000))
    assert (summary.recency_days, summary.monetary) == (2.0, 100.0)
    assert top_categories(last, 2) == ["toys", "home"]
    assert last.affinity["books"] < POLICY.view_weight  # decayed over a day


def test_affinity_halves_after_one_half_life() -> None:
    later = T0 + timedelta(hours=POLICY.affinity_half_life_h)
    first, second = run([
        (ev("product_view", 1, product_id="p"), ("toys",)),
        (ev("product_view", 2, later, product_id="q"), ("books",)),
    ])  # fmt: skip
    assert first.affinity == {"toys": 1.0} and second.affinity == {"toys": 0.5, "books": 1.0}


def test_redelivered_order_changes_nothing_but_the_event_count() -> None:
    once = run([(order(1, 25.0, T0), ("toys",))])[0]
    twice = update_profile(once, order(1, 25.0, T0), categories=("toys",), policy=POLICY, pii_key=KEY)
    assert (twice.orders, twice.monetary, twice.history, dict(twice.cards)) == (1, 25.0, once.history, dict(once.cards))


def test_personal_identifiers_are_stored_only_as_keyed_hashes() -> None:
    profile = run([(order(1, 25.0, T0), ("toys",))])[0]
    text = profile_to_json(profile).decode()
    assert "card-1" not in text and "ip-raw-1" not in text
    assert hash_pii("card-1", KEY) in profile.cards and profile.history[0].ip == hash_pii("ip-raw-1", KEY)
    assert hash_pii("card-1", "another-key-4567") not in text


def test_history_and_cards_are_bounded() -> None:
    small = ProfilePolicy(history_max_orders=3, max_known_cards=2)
    profile = None
    for n in range(6):
        profile = update_profile(profile, order(n, 10.0, T0 + timedelta(minutes=n), card=f"card-{n}"),
                                 categories=(), policy=small, pii_key=KEY)  # fmt: skip
    assert [m.order_id for m in profile.history] == ["o3", "o4", "o5"] and len(profile.cards) == 2
    assert profile.orders == 6


def stage(events: list[Event], counters: VelocityCounters, profile: Profile | None = None,
          policy: ProfilePolicy = POLICY) -> tuple[list[Velocity], Profile | None]:  # fmt: skip
    """Each order's velocity as staging computes it (profile update, then the windowed counters), and the profile."""
    out = []
    for event in events:
        after = update_profile(profile, event, categories=(), policy=policy, pii_key=KEY)
        if isinstance(event, Order):
            velocity, after = counters.order_velocity(profile, after, order_mark(event, KEY), origin=None)
            out.append(velocity)
        profile = after
    counters.flush()
    return out, profile


def velocities(events: list[Event], policy: ProfilePolicy = POLICY) -> list[Velocity]:
    """The velocity of each order of one batch."""
    return stage(events, VelocityCounters(MemoryWindowedStore(), policy.velocity_bucket_s * 1000), policy=policy)[0]


def test_velocity_counts_orders_cards_countries_and_amounts_in_their_windows() -> None:
    events = [order(9, 50.0, T0 - timedelta(hours=5), card="C", ship="MX")]
    events += [order(n, 20.0, T0 + timedelta(minutes=2 * n), card="A") for n in range(4)]
    v = velocities([*events, order(4, 400.0, T0 + timedelta(minutes=8), card="B", ship="NG")])[-1]
    assert (v.orders_1h, v.orders_24h, v.cards_24h, v.ship_countries_24h, v.ips_24h) == (5, 6, 3, 3, 1)
    assert (v.amount_1h, v.amount_24h, v.prior_orders, v.usual_amount, v.new_card) == (480.0, 530.0, 5, 20.0, True)


def test_velocity_of_a_redelivered_order_equals_its_first_delivery() -> None:
    history = [order(n, 20.0, T0 + timedelta(minutes=n), card="A") for n in range(3)]
    fifth = order(3, 300.0, T0 + timedelta(minutes=5), card="B")
    first, again = velocities([*history, fifth, fifth])[-2:]
    assert again == first and first.new_card and first.orders_1h == 4 and first.amount_1h == 360.0


def test_a_redelivered_order_in_a_later_batch_is_not_counted_twice_nor_sees_later_orders() -> None:
    store = MemoryWindowedStore()
    counters = VelocityCounters(store, POLICY.velocity_bucket_s * 1000)
    batch = [order(n, 20.0, T0 + timedelta(minutes=n)) for n in range(4)]
    first, profile = stage(batch, counters)
    again, _ = stage(batch[1:3], counters, profile)
    def windows(vs: list[Velocity]) -> list[tuple[float, ...]]:
        return [tuple(getattr(v, name) for name in WINDOW_FIELDS) for v in vs]

    assert windows(again) == windows(first[1:3]) and [v.orders_1h for v in again] == [2, 3]
    assert sum(b.orders for b in store.data.values()) == 4
    assert [m.windows[0] for m in profile.history] == [1, 2, 3, 4]


def test_velocity_ignores_orders_in_buckets_later_than_the_one_decided() -> None:
    v = velocities([order(7, 20.0, T0 + timedelta(minutes=30)), order(1, 20.0, T0)])[-1]
    assert (v.orders_1h, v.prior_orders) == (1, 1)


def test_windows_count_at_most_one_bucket_more_than_the_exact_window() -> None:
    decided = T0 + timedelta(minutes=3)  # T0 is on a bucket edge; the 1 h window starts in the 11:00 bucket
    inside = order(1, 10.0, T0 - timedelta(minutes=59))
    one_bucket_older = order(2, 10.0, T0 - timedelta(minutes=59, seconds=30))  # 62.5 min before: counted
    older = order(3, 10.0, T0 - timedelta(minutes=61))  # 64 min before, in the 10:55 bucket: not counted
    v = velocities([inside, one_bucket_older, older, order(4, 10.0, decided)])[-1]
    assert (v.orders_1h, v.orders_24h) == (3, 4)


def test_the_table_counts_past_the_profiles_bounded_history() -> None:
    small = ProfilePolicy(history_max_orders=3)
    burst = [order(n, 10.0, T0 + timedelta(minutes=n), card=f"card-{n % 5}") for n in range(25)]
    v = velocities(burst, small)[-1]
    assert (v.orders_1h, v.orders_24h, v.amount_24h, v.cards_24h, v.prior_orders) == (25, 25, 250.0, 5, 24)


def test_the_bucket_index_forgets_buckets_past_the_expiry() -> None:
    policy = ProfilePolicy(velocity_bucket_s=3600, velocity_expires_s=90_000)
    profile = run([(order(n, 10.0, T0 + timedelta(hours=n)), ()) for n in range(30)], policy=policy)[-1]
    newest = bucket_start_ms(ts_ms(order(29, 10.0, T0 + timedelta(hours=29))), HOUR_MS)
    assert profile.velocity_buckets[-1] == newest and len(profile.velocity_buckets) == 26
    assert profile.velocity_buckets[0] == newest - 25 * HOUR_MS


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=-2 * DAY_MS // 1000, max_value=0), min_size=1, max_size=25),
       st.sampled_from([60, 300, 900]))  # fmt: skip
def test_bucket_windows_never_undercount_and_overcount_by_at_most_one_bucket(
    offsets_s: list[int], bucket_s: int
) -> None:
    policy = ProfilePolicy(velocity_bucket_s=bucket_s)
    end = T0 + timedelta(seconds=7)
    events = [order(n, 1.0, end + timedelta(seconds=s)) for n, s in enumerate(offsets_s)]
    v = velocities([*events, order(99, 1.0, end)], policy)[-1]
    ages_ms = [-s * 1000 for s in offsets_s] + [0]
    for count, span_ms in ((v.orders_1h, HOUR_MS), (v.orders_24h, DAY_MS)):
        assert sum(a < span_ms for a in ages_ms) <= count <= sum(a < span_ms + bucket_s * 1000 for a in ages_ms)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["page_view", "product_view", "search", "order", "refund", "chargeback"]),
            st.integers(min_value=0, max_value=10_000_000),
            st.sampled_from([None, "s1", "s2"]),
            st.sampled_from([(), ("toys",), ("books", "home")]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_any_sequence_of_events_round_trips_through_the_changelog(steps: list[Step]) -> None:
    profile = None
    for n, (kind, offset_s, session, categories) in enumerate(steps):
        at = T0 + timedelta(seconds=offset_s)
        fields: dict[str, Any] = {
            "page_view": {"page": "/"}, "product_view": {"product_id": "p"}, "search": {"query": "q"},
            "refund": {"order_id": "o1", "amount": 3.0}, "chargeback": {"order_id": "o1"},
        }.get(kind, {})  # fmt: skip
        event = order(n, 10.0 + n, at) if kind == "order" else ev(kind, n, at, session=session, **fields)
        profile = update_profile(profile, event, categories=categories, policy=POLICY, pii_key=KEY)
        assert profile_from_json(profile_to_json(profile)) == profile
    assert profile.events == len(steps) and orjson.loads(profile_to_json(profile))["user_id"] == "u1"
