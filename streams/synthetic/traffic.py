"""The event stream of a :class:`~streams.synthetic.world.World`: catalog records, then sessions.

Sessions of many users interleave; each yields page views, searches, product views,
carts and orders, with ad wins and clicks after ad slots (clicks drawn from
:func:`~streams.synthetic.world.p_click`), purchases drawn from ``p_convert`` and
chargebacks from ``p_fraud`` arriving some events later. Timestamps advance by
``1 / rate_eps`` seconds of virtual time per event.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from typing import Any, Final

from agents.features import locale_matches
from schemas.decisions import decision_id_for
from streams.synthetic import draws
from streams.synthetic.draws import OrderLine
from streams.synthetic.exchange import Exchange, OpenSlot
from streams.synthetic.scenarios import Scenario, Shift, resolve_scenario
from streams.synthetic.world import CURRENCY, User, World, opaque_hash, p_click, p_convert, p_fraud
from streams.topics import CAMPAIGNS, CLICKS, ORDERS, PRODUCTS, SEARCHES

Message = tuple[str, str, dict[str, Any]]
"""``(topic, key, value)`` of one message."""

CONCURRENT_SESSIONS: Final = 32
SESSION_END_PROB: Final = 0.12
"""Chance a session ends after each step (mean ≈ 8 steps)."""
FIRST_ACTIONS: Final = draws.Weighted.of({"browse": 0.5, "search": 0.35, "product": 0.15})
NEXT_ACTIONS: Final = draws.Weighted.of({"product": 0.5, "search": 0.25, "browse": 0.25})
KEEP_CATEGORY: Final = 0.7
"""Chance the next step stays in the current category."""
SLOT_SHARE: Final[dict[str, float]] = {"search": 0.85, "browse": 0.4, "product": 0.3}
SLOTS_PER_SCENE: Final = 4
"""Distinct placements per scene (``slot-search-0`` .. ``slot-search-3``)."""
WIN_RATE: Final = 0.5
"""Share of ad slots we win (a win notice follows)."""
CLEARING_MARKUP: Final = (1.0, 1.6)
"""Clearing price as a multiple of the floor."""
CPM_DECIMALS: Final = 4
ABANDON_CART_SHARE: Final = 0.03
FRAUD_VIEWS: Final = (1, 3)
CHARGEBACK_DELAY_EVENTS: Final = (200, 3000)
REFUND_SHARE: Final = 0.03
REFUND_DELAY_EVENTS: Final = (100, 2000)
CHARGEBACK_REASONS: Final[tuple[str, ...]] = ("fraudulent", "unauthorized", "card_not_present")
SECONDS_PER_DAY: Final = 86_400


@dataclass
class _Clock:
    """The position and virtual time of the event being produced."""

    index: int
    ts: datetime
    elapsed_s: float

    @property
    def hour(self) -> float:
        return self.ts.hour + self.ts.minute / 60 + self.ts.second / 3600


@dataclass
class _Run:
    """Shared state of one stream: draws, clock, delayed events and spawned sessions."""

    world: World
    rng: random.Random
    scenario: Scenario
    clock: _Clock
    tag: str
    exchange: Exchange | None = None
    pending: list[tuple[int, int, str, dict[str, Any]]] = field(default_factory=list)
    spawned: list[Iterator[tuple[str, dict[str, Any]]]] = field(default_factory=list)
    session_numbers: Iterator[int] = field(default_factory=count)
    sequence: Iterator[int] = field(default_factory=count)

    def shift(self) -> Shift:
        return self.scenario.shift_at(self.clock.elapsed_s, self.clock.index)

    def later(self, delay: tuple[int, int], topic: str, event: dict[str, Any]) -> None:
        due = self.clock.index + self.rng.randint(*delay)
        heapq.heappush(self.pending, (due, next(self.sequence), topic, event))


class _Session:
    """Ids and shared fields of one user's session."""

    def __init__(self, run: _Run, user: User) -> None:
        self.user = user
        self.session_id = f"s-{run.tag}-{next(run.session_numbers):08d}"
        self.channel = draws.draw_channel(run.rng, user)
        self.country = draws.draw_session_country(run.rng, user)
        self._steps = count()

    def fields(self) -> dict[str, Any]:
        """What every event of the session carries."""
        return {
            "user_id": self.user.user_id,
            "session_id": self.session_id,
            "channel": self.channel,
            "locale": self.user.locale,
            "country": self.country,
        }

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"kind": kind, "event_id": f"{self.session_id}-{next(self._steps):03d}", **self.fields(), **fields}


def iter_catalog(world: World) -> Iterator[Message]:
    """Every product then every campaign, as ``(topic, key, record)``.

    Examples
    --------
    >>> from streams.synthetic.world import WorldConfig
    >>> w = World.from_seed(1, WorldConfig(products_per_category=1, campaigns_per_category=1, n_users=10))
    >>> [(t, k) for t, k, _ in iter_catalog(w)][:2]
    [('catalog.products', 'p-00000'), ('catalog.products', 'p-00001')]
    """
    for product in world.products:
        yield PRODUCTS, product.product_id, product.model_dump(mode="json")
    for campaign in world.campaigns:
        yield CAMPAIGNS, campaign.campaign_id, campaign.model_dump(mode="json")


def iter_events(
    world: World, start: datetime, rate_eps: float, scenario: str | None, exchange: Exchange | None = None
) -> Iterator[Message]:
    """The endless, reproducible event stream of ``world`` from ``start``.

    Parameters
    ----------
    world
        Products, campaigns and users to draw from.
    start
        Virtual time of the first event (time-zone aware).
    rate_eps
        Events per second of virtual time: event ``i`` has ``ts = start + i / rate_eps``.
    scenario
        Name of a scenario in :data:`~streams.synthetic.scenarios.SCENARIOS`; ``None`` = baseline.
    exchange
        Closed loop: ad slots are offered to this exchange, which answers the service's bids
        with win notices and clicks; ``None`` (open loop) draws them here.

    Returns
    -------
    Iterator[tuple[str, str, dict]]
        ``(topic, user_id, event)``; every event validates against :mod:`schemas.events`.

    Examples
    --------
    >>> from datetime import UTC
    >>> from itertools import islice
    >>> from streams.synthetic.world import WorldConfig
    >>> w = World.from_seed(1, WorldConfig(products_per_category=3, campaigns_per_category=1, n_users=50))
    >>> first = list(islice(iter_events(w, datetime(2026, 1, 1, tzinfo=UTC), 10.0, None), 3))
    >>> [e["ts"] for _, _, e in first]
    ['2026-01-01T00:00:00.000+00:00', '2026-01-01T00:00:00.100+00:00', '2026-01-01T00:00:00.200+00:00']
    >>> first == list(islice(iter_events(w, datetime(2026, 1, 1, tzinfo=UTC), 10.0, None), 3))
    True
    """
    chosen = resolve_scenario(scenario)
    if start.tzinfo is None:
        raise ValueError("start must be time-zone aware")
    if not (math.isfinite(rate_eps) and rate_eps > 0):
        raise ValueError(f"rate_eps must be a positive number, got {rate_eps!r}")
    return _stream(world, start, rate_eps, chosen, exchange)


def _stream(
    world: World, start: datetime, rate_eps: float, scenario: Scenario, exchange: Exchange | None
) -> Iterator[Message]:
    run = _Run(
        world=world,
        rng=random.Random(f"{world.seed}/{start.isoformat()}"),
        scenario=scenario,
        clock=_Clock(0, start, 0.0),
        tag=opaque_hash(world.seed, start.isoformat())[:8],
        exchange=exchange,
    )
    active = [_shopping_session(run) for _ in range(CONCURRENT_SESSIONS)]
    for index in count():
        elapsed_s = index / rate_eps
        run.clock = _Clock(index, start + timedelta(seconds=elapsed_s), elapsed_s)
        if run.pending and run.pending[0][0] <= index:
            _, _, topic, event = heapq.heappop(run.pending)
        else:
            topic, event = _next_session_event(run, active)
        event["ts"] = run.clock.ts.isoformat(timespec="milliseconds")
        yield topic, event["user_id"], event


def _next_session_event(run: _Run, active: list[Iterator[tuple[str, dict[str, Any]]]]) -> tuple[str, dict[str, Any]]:
    while True:
        active.extend(run.spawned)
        run.spawned.clear()
        slot = run.rng.randrange(len(active))
        item = next(active[slot], None)
        if item is not None:
            return item
        if len(active) > CONCURRENT_SESSIONS:
            active.pop(slot)
        else:
            active[slot] = _shopping_session(run)


def _shopping_session(run: _Run) -> Iterator[tuple[str, dict[str, Any]]]:
    rng = run.rng
    session = _Session(run, draws.draw_user(rng, run.world))
    category = draws.draw_category(rng, session.user)
    actions = FIRST_ACTIONS
    while True:
        if rng.random() > KEEP_CATEGORY:
            category = draws.draw_category(rng, session.user)
        action = draws.pick(rng, actions)
        actions = NEXT_ACTIONS
        if action == "search":
            yield from _search(run, session, category)
        elif action == "browse":
            yield from _browse(run, session, category)
        else:
            yield from _product_view(run, session, draws.draw_product(rng, run.world, category))
        if rng.random() < SESSION_END_PROB:
            return


def _slot(run: _Run, scene: str) -> dict[str, Any] | None:
    if run.rng.random() >= SLOT_SHARE[scene]:
        return None
    return {
        "slot_id": f"slot-{scene}-{run.rng.randrange(SLOTS_PER_SCENE)}",
        "floor_cpm": draws.draw_floor_cpm(run.rng, scene),
        "tmax_ms": draws.draw_tmax_ms(run.rng),
    }


def _search(run: _Run, session: _Session, category: str) -> Iterator[tuple[str, dict[str, Any]]]:
    slot = _slot(run, "search")
    event = session.event("search", query=draws.draw_query(run.rng, session.user, category), ad_slot=slot)
    yield from _with_slot(run, session, SEARCHES, event, slot, "search", category)


def _browse(run: _Run, session: _Session, category: str) -> Iterator[tuple[str, dict[str, Any]]]:
    page, page_category = draws.draw_page(run.rng, category)
    slot = _slot(run, "browse")
    event = session.event("page_view", page=page, ad_slot=slot)
    yield from _with_slot(run, session, CLICKS, event, slot, "browse", page_category)


def _with_slot(
    run: _Run,
    session: _Session,
    topic: str,
    event: dict[str, Any],
    slot: dict[str, Any] | None,
    scene: str,
    context: str | None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``event``, and what follows its ad slot: offered to the exchange *before* the event is out
    (its bid may come back at once), or, in the open loop, a drawn win and click after it."""
    if slot is not None and run.exchange is not None:
        offered = OpenSlot(event["event_id"], session.fields(), scene, context, slot["floor_cpm"], run.clock.hour,
                           run.shift())  # fmt: skip
        run.exchange.offer(decision_id_for(event["event_id"], "bid"), offered)
    yield topic, event
    if slot is not None and run.exchange is None:
        yield from _ad(run, session, event["event_id"], slot, scene, context)


def _ad(
    run: _Run, session: _Session, slot_event_id: str, slot: dict[str, Any], scene: str, context: str | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    decision_id = decision_id_for(slot_event_id, "bid")
    rng = run.rng
    if rng.random() >= WIN_RATE:
        return
    campaign = run.world.campaigns[draws.choose_campaign(rng, run.world, context)]
    clearing_cpm = round(slot["floor_cpm"] * rng.uniform(*CLEARING_MARKUP), CPM_DECIMALS)
    yield CLICKS, session.event(
        "ad_impression", decision_id=decision_id, campaign_id=campaign.campaign_id, clearing_cpm=clearing_cpm
    )
    proba = p_click(
        channel=session.channel,
        scene=scene,
        hour=run.clock.hour,
        locale_match=locale_matches(session.user.locale, campaign),
        category_match=1.0 if context == campaign.category else 0.0,
        floor_cpm=slot["floor_cpm"],
        max_cpc=campaign.max_cpc,
        campaign_category=campaign.category,
        logit_shift=run.shift().ctr_logit_for(campaign.category),
    )
    if rng.random() < proba:
        yield CLICKS, session.event("ad_click", decision_id=decision_id, campaign_id=campaign.campaign_id)


def _product_view(run: _Run, session: _Session, product_ix: int) -> Iterator[tuple[str, dict[str, Any]]]:
    rng = run.rng
    product = run.world.products[product_ix]
    price = draws.draw_shown_price(rng, product)
    slot = _slot(run, "product")
    event = session.event("product_view", product_id=product.product_id, ad_slot=slot)
    yield from _with_slot(run, session, CLICKS, event, slot, "product", product.category)
    shift = run.shift()
    proba = p_convert(
        rel_price=math.log(price / product.list_price),
        category=product.category,
        channel=session.channel,
        hour=run.clock.hour,
        list_price=product.list_price,
        elasticity=run.world.elasticities[product_ix] * shift.elasticity_scale,
        logit_shift=shift.convert_logit,
    )
    if rng.random() < proba:
        line = OrderLine(product_ix, draws.draw_quantity(rng), price)
        yield CLICKS, session.event("add_to_cart", product_id=product.product_id, quantity=line.quantity, price=price)
        yield from _order(run, session, line)
        share = draws.FRAUD_ORDER_SHARE * shift.fraud_share_scale
        if rng.random() < share / (1.0 - share):
            run.spawned.append(_fraud_session(run))
    elif rng.random() < ABANDON_CART_SHARE:
        yield CLICKS, session.event("add_to_cart", product_id=product.product_id, quantity=1, price=price)


def _fraud_session(run: _Run) -> Iterator[tuple[str, dict[str, Any]]]:
    rng = run.rng
    session = _Session(run, draws.draw_fraudster(rng, run.world))
    line = draws.draw_first_line(rng, run.world, session.user)
    product = run.world.products[line.product]
    for _ in range(rng.randint(*FRAUD_VIEWS) - 1):
        other = draws.draw_product(rng, run.world, product.category)
        yield CLICKS, session.event("product_view", product_id=run.world.products[other].product_id)
    yield CLICKS, session.event("product_view", product_id=product.product_id)
    yield CLICKS, session.event(
        "add_to_cart", product_id=product.product_id, quantity=line.quantity, price=line.unit_price
    )
    yield from _order(run, session, line)


def _order(run: _Run, session: _Session, first: OrderLine) -> Iterator[tuple[str, dict[str, Any]]]:
    rng = run.rng
    world = run.world
    drawn = draws.draw_order(rng, world, session.user, first, int(run.clock.elapsed_s // SECONDS_PER_DAY))
    event = session.event(
        "order",
        order_id="",
        items=[
            {
                "product_id": world.products[line.product].product_id,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
            }
            for line in drawn.lines
        ],
        amount=drawn.amount,
        currency=CURRENCY,
        payment={"method": drawn.payment_method, "card_hash": drawn.card_hash, "card_bin": drawn.card_bin},
        billing_country=drawn.billing_country,
        shipping_country=drawn.shipping_country,
        account_age_days=drawn.account_age_days,
        ip_hash=drawn.ip_hash,
    )
    event["order_id"] = f"o-{event['event_id']}"
    yield ORDERS, event
    proba = p_fraud(
        amount=drawn.amount,
        account_age_days=drawn.account_age_days,
        payment_method=drawn.payment_method,
        has_card_hash=drawn.card_hash is not None,
        billing_country=drawn.billing_country,
        shipping_country=drawn.shipping_country,
        country=session.country,
        channel=session.channel,
        hour=run.clock.hour,
        logit_shift=run.shift().fraud_logit,
    )
    follow_up = {k: event[k] for k in ("user_id", "channel", "locale", "country")}
    if rng.random() < proba:
        run.later(
            CHARGEBACK_DELAY_EVENTS,
            ORDERS,
            {"kind": "chargeback", "event_id": f"{event['event_id']}-cb", "order_id": event["order_id"],
             "reason": rng.choice(CHARGEBACK_REASONS), **follow_up},
        )  # fmt: skip
    elif rng.random() < REFUND_SHARE:
        run.later(
            REFUND_DELAY_EVENTS,
            ORDERS,
            {"kind": "refund", "event_id": f"{event['event_id']}-rf", "order_id": event["order_id"],
             "amount": drawn.amount, **follow_up},
        )  # fmt: skip
