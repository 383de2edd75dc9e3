"""Scene router: which part of the shopping journey an event belongs to, given its session.

The scene comes from the event and the session it continues: a page view of the
cart is ``cart``, a win notice belongs to the scene of the slot it follows, and
pages other than products, searches and categories after an order in the same
session are ``post_purchase``. The session keeps its context (category, cart)
while the scene switches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.categories import category_of_page
from schemas.decisions import Scene
from schemas.events import Event

if TYPE_CHECKING:
    from agents.profiles.model import SessionState

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
"""The scene of each kind of event when nothing else is known."""

PAGE_SCENES: tuple[tuple[str, Scene], ...] = (
    ("/cart", "cart"),
    ("/checkout", "checkout"),
    ("/orders", "post_purchase"),
)
"""Page path prefixes with a scene of their own."""

FOLLOWS_SLOT: frozenset[str] = frozenset({"ad_impression", "ad_click"})
"""Kinds that belong to the scene of the ad slot they follow."""


def scene_of(kind: str) -> Scene:
    """The scene of an event of this kind, without session context.

    Examples
    --------
    >>> scene_of("search"), scene_of("product_view"), scene_of("order")
    ('search', 'product', 'checkout')
    """
    return SCENE_BY_KIND[kind]


def page_scene(page: str) -> Scene | None:
    """The scene a page path names by itself, if any.

    Examples
    --------
    >>> page_scene("/cart"), page_scene("/orders/o-1"), page_scene("/deals")
    ('cart', 'post_purchase', None)
    """
    path = "/" + page.strip("/")
    for prefix, scene in PAGE_SCENES:
        if path == prefix or path.startswith(prefix + "/"):
            return scene
    return None


def route_scene(event: Event, session: SessionState | None) -> Scene:
    """The scene of ``event`` in the session it continues (``None``: it starts a new one).

    Examples
    --------
    >>> from schemas.codec import decode_event
    >>> from agents.profiles.model import SessionState
    >>> page = lambda p: decode_event(('{"kind":"page_view","event_id":"e","ts":1700000000000,"user_id":"u",'
    ...                                '"channel":"web","page":"%s"}' % p).encode(), "events.clicks")
    >>> bought = SessionState("s", 0, 0, "web", "checkout", ordered=True)
    >>> route_scene(page("/"), None), route_scene(page("/cart"), None), route_scene(page("/"), bought)
    ('browse', 'cart', 'post_purchase')
    >>> route_scene(page("/c/toys"), bought)
    'browse'
    """
    if event.kind == "page_view":
        named = page_scene(event.page)
        if named is not None:
            return named
        if session is not None and session.ordered and category_of_page(event.page) is None:
            return "post_purchase"
        return "browse"
    if event.kind in FOLLOWS_SLOT:
        return session.scene if session is not None else SCENE_BY_KIND[event.kind]
    return SCENE_BY_KIND[event.kind]
