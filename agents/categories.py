"""Which product categories an event is about (for profiles, scenes and ad targeting)."""

from __future__ import annotations

from collections.abc import Mapping

from schemas.catalog import Product
from schemas.common import CATEGORIES
from schemas.events import Event

CATEGORY_PAGE_PREFIX = "c"
"""Category pages are ``/c/<category>[/...]``."""


def category_of_page(page: str) -> str | None:
    """The category of a category page (``/c/<category>``), else None.

    Examples
    --------
    >>> category_of_page("/c/toys"), category_of_page("/c/toys/lego"), category_of_page("/home")
    ('toys', 'toys', None)
    """
    parts = page.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == CATEGORY_PAGE_PREFIX and parts[1] in CATEGORIES:
        return parts[1]
    return None


def context_category(event: Event, products: Mapping[str, Product], query_category: str | None = None) -> str | None:
    """The category an ad slot (or a view) appears next to, when the event itself says it.

    ``query_category`` is the search's category from the query intent model, when known.

    Examples
    --------
    >>> from schemas.codec import decode_event
    >>> e = decode_event(b'{"kind":"page_view","event_id":"e","ts":1700000000000,"user_id":"u",'
    ...                  b'"channel":"web","page":"/c/books"}', "events.clicks")
    >>> context_category(e, {})
    'books'
    """
    if event.kind in ("product_view", "add_to_cart"):
        product = products.get(event.product_id)
        return product.category if product else None
    if event.kind == "page_view":
        return category_of_page(event.page)
    if event.kind == "search":
        return query_category
    return None


def event_categories(
    event: Event, products: Mapping[str, Product], query_category: str | None = None
) -> tuple[str, ...]:
    """Every category the event shows interest in: one per ordered line for orders.

    Examples
    --------
    >>> from schemas.codec import decode_event
    >>> p = Product(product_id="p", title="t", category="home", currency="USD", list_price=10,
    ...             unit_cost=5, min_price=8, max_price=12, stock=3)
    >>> o = decode_event(b'{"kind":"order","event_id":"e","ts":1700000000000,"user_id":"u","channel":"web",'
    ...                  b'"order_id":"o","items":[{"product_id":"p","quantity":1,"unit_price":10},'
    ...                  b'{"product_id":"x","quantity":1,"unit_price":3}],"amount":13,"currency":"USD",'
    ...                  b'"payment":{"method":"card"}}', "events.orders")
    >>> event_categories(o, {"p": p})
    ('home',)
    """
    if event.kind == "order":
        return tuple(products[i.product_id].category for i in event.items if i.product_id in products)
    category = context_category(event, products, query_category)
    return (category,) if category else ()
