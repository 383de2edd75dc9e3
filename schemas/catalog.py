"""Catalog records on the compacted topics ``catalog.products`` and ``catalog.campaigns``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from schemas.common import Category, Currency, Id, Locale, Money, PositiveMoney, Record, ShortText


class Product(Record):
    """A sellable product with its price bounds (key: ``product_id``)."""

    product_id: Id
    title: ShortText
    category: Category
    currency: Currency
    list_price: PositiveMoney
    unit_cost: Money
    min_price: PositiveMoney
    max_price: PositiveMoney
    stock: int = Field(ge=0)

    @model_validator(mode="after")
    def _bounds_hold(self) -> "Product":
        if not self.min_price <= self.list_price <= self.max_price:
            raise ValueError("need min_price <= list_price <= max_price")
        return self


class Campaign(Record):
    """An advertiser's campaign (key: ``campaign_id``)."""

    campaign_id: Id
    ad_id: Id
    category: Category
    locales: list[Locale] = Field(default_factory=list, max_length=64)
    max_cpc: PositiveMoney
    daily_budget: PositiveMoney
    currency: Currency


CatalogRecord = Annotated[Product | Campaign, Field(union_mode="left_to_right")]
