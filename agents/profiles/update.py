"""The pure profile update: ``update_profile(profile, event) -> profile``.

Order events are deduplicated by ``order_id`` (a redelivered order changes nothing
but the event count), so only a new order is added to the windowed velocity
table (:mod:`agents.profiles.counters`) and velocity is not inflated by redelivery.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agents.profiles.buckets import bucket_start_ms, index_bucket
from agents.profiles.model import MONEY_DECIMALS, OrderMark, Profile, empty_profile, evolve
from agents.profiles.session import BACKEND_KINDS, advance_session, continued_session
from agents.profiles.velocity import order_mark
from agents.scenes import SCENE_BY_KIND, route_scene
from schemas.decisions import Scene
from schemas.events import Chargeback, Event, Order, Refund
from streams.settings import ProfilePolicy

MS_PER_S = 1000
MS_PER_HOUR = 3_600_000
AFFINITY_FLOOR = 1e-3
"""Decayed affinities below this are forgotten."""
AFFINITY_DECIMALS = 6


def ts_ms(event: Event) -> int:
    """The event time in epoch milliseconds.

    Examples
    --------
    >>> from schemas.codec import decode_event
    >>> ts_ms(decode_event(b'{"kind":"search","event_id":"e","ts":"2026-01-01T00:00:01Z","user_id":"u",'
    ...                    b'"channel":"web","query":"q"}', "events.searches"))
    1767225601000
    """
    return int(event.ts.timestamp() * MS_PER_S)


def decay_affinity(affinity: dict[str, float], elapsed_ms: int, half_life_h: float) -> dict[str, float]:
    """Affinities after ``elapsed_ms`` of exponential decay (never grows when time runs backwards).

    Examples
    --------
    >>> decay_affinity({"toys": 4.0, "books": 0.001}, 2 * MS_PER_HOUR, 2.0)
    {'toys': 2.0}
    """
    if elapsed_ms <= 0:
        return dict(affinity)
    factor = 0.5 ** (elapsed_ms / (half_life_h * MS_PER_HOUR))
    return {k: round(v * factor, AFFINITY_DECIMALS) for k, v in affinity.items() if v * factor >= AFFINITY_FLOOR}


def signal_weight(kind: str, policy: ProfilePolicy) -> float:
    """How much one category mention of an event of ``kind`` adds to the affinity.

    Examples
    --------
    >>> signal_weight("add_to_cart", ProfilePolicy()), signal_weight("ad_click", ProfilePolicy())
    (3.0, 0.0)
    """
    weights = {
        "product_view": policy.view_weight,
        "page_view": policy.view_weight,
        "search": policy.search_weight,
        "add_to_cart": policy.cart_weight,
        "order": policy.order_weight,
    }
    return weights.get(kind, 0.0)


def affinity_changes(
    profile: Profile, categories: tuple[str, ...], weight: float, now_ms: int, policy: ProfilePolicy
) -> dict[str, Any]:
    """The affinity fields after crediting each of ``categories`` with ``weight`` at ``now_ms`` (after decay).

    Examples
    --------
    >>> affinity_changes(empty_profile("u", 0), ("toys", "toys"), 1.0, 0, ProfilePolicy())
    {'affinity': {'toys': 2.0}, 'affinity_ms': 0}
    """
    if not categories or weight <= 0:
        return {}
    anchor = max(profile.affinity_ms, now_ms)
    affinity = decay_affinity(dict(profile.affinity), anchor - profile.affinity_ms, policy.affinity_half_life_h)
    late = 0.5 ** ((anchor - now_ms) / (policy.affinity_half_life_h * MS_PER_HOUR))
    for category in categories:
        affinity[category] = round(affinity.get(category, 0.0) + weight * late, AFFINITY_DECIMALS)
    return {"affinity": affinity, "affinity_ms": anchor}


def order_changes(
    profile: Profile, mark: OrderMark, account_age_days: int | None, policy: ProfilePolicy
) -> dict[str, Any]:
    """The fields a new order changes (RFM, history, cards, velocity bucket index); none for a known ``order_id``.

    Examples
    --------
    >>> p = evolve(empty_profile("u", 0), order_changes(empty_profile("u", 0), OrderMark("o1", 10, 25.0, card="c1"),
    ...                                                   3, ProfilePolicy()))
    >>> p.orders, p.monetary, dict(p.cards), p.velocity_buckets
    (1, 25.0, {'c1': 'o1'}, (0,))
    >>> order_changes(p, OrderMark("o1", 10, 25.0), 3, ProfilePolicy())
    {}
    """
    if any(m.order_id == mark.order_id for m in profile.history):
        return {}
    cards = dict(profile.cards)
    if mark.card is not None and mark.card not in cards:
        cards[mark.card] = mark.order_id
        while len(cards) > policy.max_known_cards:
            cards.pop(next(iter(cards)))
    return {
        "orders": profile.orders + 1,
        "monetary": round(profile.monetary + mark.amount, MONEY_DECIMALS),
        "last_order_ms": max(profile.last_order_ms or mark.ts_ms, mark.ts_ms),
        "history": (*profile.history, mark)[-policy.history_max_orders :],
        "cards": cards,
        "velocity_buckets": index_bucket(
            profile.velocity_buckets, bucket_start_ms(mark.ts_ms, policy.velocity_bucket_s * MS_PER_S),
            policy.velocity_expires_s * MS_PER_S,
        ),
        "account_age_days": account_age_days if account_age_days is not None else profile.account_age_days,
    }


def chargeback_changes(profile: Profile, order_id: str) -> dict[str, Any]:
    """Count a chargeback once per remembered order.

    Examples
    --------
    >>> p = evolve(empty_profile("u", 0), {"history": (OrderMark("o1", 1, 9.0),)})
    >>> once = evolve(p, chargeback_changes(p, "o1"))
    >>> once.chargebacks, chargeback_changes(once, "o1"), once.history[0].charged_back
    (1, {}, True)
    """
    for index, mark in enumerate(profile.history):
        if mark.order_id == order_id:
            if mark.charged_back:
                return {}
            history = (*profile.history[:index], replace(mark, charged_back=True), *profile.history[index + 1 :])
            return {"chargebacks": profile.chargebacks + 1, "history": history}
    return {"chargebacks": profile.chargebacks + 1}


def update_profile(
    profile: Profile | None,
    event: Event,
    *,
    categories: tuple[str, ...],
    policy: ProfilePolicy,
    pii_key: str,
    mark: OrderMark | None = None,
) -> Profile:
    """The profile after ``event`` (``categories``: what the event is about, see :mod:`agents.categories`).

    ``mark`` is an order's :func:`~agents.profiles.velocity.order_mark` when the caller already has
    it (two keyed hashes per order are not worth computing twice); otherwise it is computed here.

    Examples
    --------
    >>> from schemas.codec import decode_event
    >>> raw = (b'{"kind":"order","event_id":"e1","ts":1700000000000,"user_id":"u","session_id":"s","channel":"app",'
    ...        b'"order_id":"o1","items":[{"product_id":"p","quantity":1,"unit_price":30}],"amount":30,'
    ...        b'"currency":"USD","payment":{"method":"card","card_hash":"raw-card"}}')
    >>> p = update_profile(None, decode_event(raw, "events.orders"), categories=("toys",),
    ...                    policy=ProfilePolicy(), pii_key="k" * 16)
    >>> p.orders, p.session.scene, p.session.ordered, dict(p.affinity), dict(p.channels)
    (1, 'checkout', True, {'toys': 5.0}, {'app': 1})
    >>> "raw-card" in p.cards
    False
    """
    now_ms = ts_ms(event)
    if profile is None:
        profile = empty_profile(event.user_id, now_ms)
    changes: dict[str, Any] = {
        "events": profile.events + 1,
        "first_seen_ms": min(profile.first_seen_ms, now_ms),
        "last_seen_ms": max(profile.last_seen_ms, now_ms),
    }
    if event.kind not in BACKEND_KINDS:
        current = continued_session(profile.session, event, now_ms, int(policy.session_timeout_s * MS_PER_S))
        changes["session"] = advance_session(current, event, route_scene(event, current), categories, now_ms)
        if current is None:
            changes["channels"] = {**profile.channels, event.channel: profile.channels.get(event.channel, 0) + 1}
            changes["sessions"] = profile.sessions + 1
    changes.update(affinity_changes(profile, categories, signal_weight(event.kind, policy), now_ms, policy))
    if isinstance(event, Order):
        changes.update(order_changes(profile, mark or order_mark(event, pii_key), event.account_age_days, policy))
    elif isinstance(event, Chargeback):
        changes.update(chargeback_changes(profile, event.order_id))
    elif isinstance(event, Refund):
        refunded = round(profile.refunded + event.amount, MONEY_DECIMALS)
        changes.update(refunds=profile.refunds + 1, refunded=refunded)
    return evolve(profile, changes)


def event_scene(after: Profile, event: Event) -> Scene:
    """The scene of ``event`` as routed by its update (back-office events have their own).

    Examples
    --------
    >>> from schemas.codec import decode_event
    >>> e = decode_event(b'{"kind":"refund","event_id":"e","ts":1700000000000,"user_id":"u","channel":"web",'
    ...                  b'"order_id":"o","amount":1}', "events.orders")
    >>> event_scene(empty_profile("u", 0), e)
    'post_purchase'
    """
    if event.kind in BACKEND_KINDS or after.session is None:
        return SCENE_BY_KIND[event.kind]
    return after.session.scene
