"""Apply a micro-batch to the state it changes (profiles, budgets, the price bandit) before deciding on it.

Each event gets the profile as it was before it and as it is after it, so a
decision sees every earlier event of the batch (an order's velocity counts the
orders before it) and none of the later ones. Profiles are written back once per
user per batch, attributed to that user's last event; an order's velocity is
read from the windowed velocity table as the batch left it, and each changed
bucket is written once per batch (:mod:`agents.profiles.counters`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agents.bidding.budget import utc_day
from agents.categories import event_categories
from agents.context import DecisionContext, Incoming
from agents.profiles.counters import VelocityCounters
from agents.profiles.model import Profile
from agents.profiles.update import MS_PER_S, event_scene, ts_ms, update_profile
from agents.profiles.velocity import Velocity, order_mark
from agents.search_intent import SearchIntent
from schemas.decisions import Scene
from schemas.events import Event, Order


@dataclass(slots=True)
class Staged:
    """An event with its scene, the user's profile before and after it, a search's intent and an order's velocity."""

    incoming: Incoming
    before: Profile | None
    after: Profile
    scene: Scene
    intent: SearchIntent | None = None
    velocity: Velocity | None = None

    @property
    def event(self) -> Event:
        return self.incoming.event

    @property
    def slot_deadline_ms(self) -> int | None:
        """Epoch ms by which the bid for the event's ad slot must be out (arrival + ``tmax_ms``); None if unbounded."""
        slot = getattr(self.event, "ad_slot", None)
        if slot is None or slot.tmax_ms is None:
            return None
        return self.incoming.received_ms + slot.tmax_ms


def apply_outcomes(incoming: Incoming, ctx: DecisionContext) -> None:
    """Outcomes an event reports: a win notice spends budget, an order converts price views."""
    event = incoming.event
    if event.kind == "ad_impression":
        ctx.budget.record_win(
            event.campaign_id, event.clearing_cpm, utc_day(event.ts),
            partition=incoming.partition, decision_id=event.decision_id, origin=incoming.origin,
        )  # fmt: skip
    elif event.kind == "order":
        window_ms = int(ctx.settings.pricing.experiment.exposure_window_s * MS_PER_S)
        ctx.bandit.record_order(event.user_id, [i.product_id for i in event.items], ts_ms(event), window_ms)


def stage_batch(
    items: list[Incoming], ctx: DecisionContext, intents: Mapping[str, SearchIntent] | None = None
) -> list[Staged]:
    """Update profiles, budgets and the bandit with ``items`` (in order); returns each event staged.

    ``intents`` (by ``event_id``) give searches their category, for affinities and ad targeting.
    """
    intents = intents or {}
    settings = ctx.settings
    working: dict[str, Profile] = {}
    counters = VelocityCounters(ctx.velocity, settings.profiles.velocity_bucket_s * MS_PER_S)
    last: dict[str, Incoming] = {}
    staged: list[Staged] = []
    for incoming in items:
        event = incoming.event
        user = event.user_id
        before = working[user] if user in working else ctx.profiles.get(user)
        intent = intents.get(event.event_id)
        categories = event_categories(event, ctx.catalog.products, intent.category if intent else None)
        mark = order_mark(event, settings.pii_key) if isinstance(event, Order) else None
        after = update_profile(
            before, event, categories=categories, policy=settings.profiles, pii_key=settings.pii_key, mark=mark,
        )  # fmt: skip
        velocity = None
        if mark is not None:
            velocity, after = counters.order_velocity(before, after, mark, incoming.origin)
        working[user], last[user] = after, incoming
        staged.append(Staged(incoming, before, after, event_scene(after, event), intent, velocity))
        apply_outcomes(incoming, ctx)
    for user, profile in working.items():
        ctx.profiles.put(user, profile, last[user].origin)
    counters.flush()
    if items:
        now_ms = int(ctx.event_clock(items).timestamp() * MS_PER_S)
        ctx.budget.expire(now_ms, int(settings.bidding.win_notice_timeout_s * MS_PER_S))
        ctx.bandit.expire(now_ms, int(settings.pricing.experiment.exposure_window_s * MS_PER_S))
    return staged
