"""Scene router: which part of the shopping journey an event belongs to."""

from __future__ import annotations

from schemas.decisions import Scene

SCENE_BY_KIND: dict[str, Scene] = {
    "search": "search",
    "page_view": "browse",
    "product_view": "product",
    "add_to_cart": "cart",
    "ad_impression": "browse",
    "ad_click": "browse",
    "order": "checkout",
    "chargeback": "post_purchase",
    "refund": "post_purchase",
}


def scene_of(kind: str) -> Scene:
    """The scene of an event of this kind.

    Examples
    --------
    >>> scene_of("search"), scene_of("product_view"), scene_of("order")
    ('search', 'product', 'checkout')
    """
    return SCENE_BY_KIND[kind]
