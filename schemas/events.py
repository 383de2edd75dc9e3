"""Input events: clicks, searches and orders, a discriminated union on ``kind``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from schemas.common import Channel, CountryCode, Currency, Id, Locale, Money, PositiveMoney, Record, ShortText, Timestamp


class AdSlot(Record):
    """An ad opportunity attached to a page view, product view or search."""

    slot_id: Id
    floor_cpm: Money = 0.0
    tmax_ms: int | None = Field(None, gt=0, le=60_000)


class EventBase(Record):
    """Fields every input event carries."""

    event_id: Id
    ts: Timestamp
    user_id: Id
    session_id: Id | None = None
    channel: Channel
    locale: Locale | None = None
    country: CountryCode | None = None


class PageView(EventBase):
    kind: Literal["page_view"]
    page: ShortText
    ad_slot: AdSlot | None = None


class ProductView(EventBase):
    kind: Literal["product_view"]
    product_id: Id
    ad_slot: AdSlot | None = None


class AddToCart(EventBase):
    kind: Literal["add_to_cart"]
    product_id: Id
    quantity: int = Field(ge=1, le=10_000)
    price: PositiveMoney


class AdImpression(EventBase):
    """Win notice: our bid won the slot and the ad was shown."""

    kind: Literal["ad_impression"]
    decision_id: Id
    campaign_id: Id
    clearing_cpm: Money


class AdClick(EventBase):
    kind: Literal["ad_click"]
    decision_id: Id
    campaign_id: Id


class Search(EventBase):
    kind: Literal["search"]
    query: Annotated[str, Field(min_length=1, max_length=512)]
    ad_slot: AdSlot | None = None


class OrderItem(Record):
    product_id: Id
    quantity: int = Field(ge=1, le=10_000)
    unit_price: Money


class Payment(Record):
    method: Annotated[str, Field(min_length=1, max_length=32)]
    card_hash: Annotated[str, Field(max_length=128)] | None = None
    card_bin: Annotated[str, Field(pattern=r"^[0-9]{6,8}$")] | None = None


class Order(EventBase):
    kind: Literal["order"]
    order_id: Id
    items: list[OrderItem] = Field(min_length=1, max_length=500)
    amount: Money
    currency: Currency
    payment: Payment
    billing_country: CountryCode | None = None
    shipping_country: CountryCode | None = None
    account_age_days: int | None = Field(None, ge=0, le=36_500)
    ip_hash: Annotated[str, Field(max_length=128)] | None = None


class Chargeback(EventBase):
    kind: Literal["chargeback"]
    order_id: Id
    reason: ShortText | None = None


class Refund(EventBase):
    kind: Literal["refund"]
    order_id: Id
    amount: Money


ClickEvent = Annotated[PageView | ProductView | AddToCart | AdImpression | AdClick, Field(discriminator="kind")]
SearchEvent = Annotated[Search, Field(discriminator="kind")]
OrderEvent = Annotated[Order | Chargeback | Refund, Field(discriminator="kind")]
Event = Annotated[
    PageView | ProductView | AddToCart | AdImpression | AdClick | Search | Order | Chargeback | Refund,
    Field(discriminator="kind"),
]

KINDS_BY_TOPIC: dict[str, tuple[str, ...]] = {
    "events.clicks": ("page_view", "product_view", "add_to_cart", "ad_impression", "ad_click"),
    "events.searches": ("search",),
    "events.orders": ("order", "chargeback", "refund"),
}
"""Which ``kind`` values each input topic accepts (DESIGN.md §2)."""
EVENT_KINDS: frozenset[str] = frozenset(kind for kinds in KINDS_BY_TOPIC.values() for kind in kinds)
"""Every known event ``kind``, whatever its topic."""

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

