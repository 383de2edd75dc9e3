"""Session state: which session an event continues, and how the session moves on."""

from __future__ import annotations

from agents.profiles.model import MONEY_DECIMALS, SessionState
from schemas.decisions import Scene
from schemas.events import Event

BACKEND_KINDS: frozenset[str] = frozenset({"chargeback", "refund"})
"""Kinds sent by back-office systems: they never touch the shopper's session."""


def continued_session(session: SessionState | None, event: Event, ts_ms: int, timeout_ms: int) -> SessionState | None:
    """The session ``event`` continues, or None when it starts a new one.

    An event with a ``session_id`` continues the session of that id; one without
    continues the current session unless it has been idle longer than ``timeout_ms``.

    Examples
    --------
    >>> from schemas.codec import decode_event
    >>> s = SessionState("s1", 0, 1_700_000_000_000, "web", "browse")
    >>> e = decode_event(b'{"kind":"search","event_id":"e","ts":1700000000500,"user_id":"u",'
    ...                  b'"session_id":"s1","channel":"web","query":"q"}', "events.searches")
    >>> continued_session(s, e, 1_700_000_000_500, 1000) is s
    True
    >>> from dataclasses import replace
    >>> continued_session(replace(s, session_id="s0"), e, 1_700_000_000_500, 1000) is None
    True
    """
    if session is None:
        return None
    if event.session_id is not None:
        return session if event.session_id == session.session_id else None
    return session if ts_ms - session.last_ms <= timeout_ms else None


def advance_session(
    current: SessionState | None, event: Event, scene: Scene, categories: tuple[str, ...], ts_ms: int
) -> SessionState:
    """The session after ``event``: a new one when ``current`` is None, else ``current`` moved on.

    The session keeps its category and cart across scene switches; an order
    empties the cart and marks the session as having bought.

    Examples
    --------
    >>> from schemas.codec import decode_event
    >>> cart = decode_event(b'{"kind":"add_to_cart","event_id":"e","ts":1700000000000,"user_id":"u",'
    ...                     b'"session_id":"s","channel":"app","product_id":"p","quantity":2,"price":5}',
    ...                     "events.clicks")
    >>> s = advance_session(None, cart, "cart", ("toys",), 1_700_000_000_000)
    >>> s.scene, s.category, s.cart_items, s.cart_value
    ('cart', 'toys', 2, 10.0)
    """
    category = categories[-1] if categories else None
    cart_items, cart_value, ordered = (0, 0.0, False)
    if current is not None:
        cart_items, cart_value, ordered = current.cart_items, current.cart_value, current.ordered
    if event.kind == "add_to_cart":
        cart_items = cart_items + event.quantity
        cart_value = round(cart_value + event.quantity * event.price, MONEY_DECIMALS)
    elif event.kind == "order":
        cart_items, cart_value, ordered = 0, 0.0, True
    if current is None:
        return SessionState(
            session_id=event.session_id, started_ms=ts_ms, last_ms=ts_ms, channel=event.channel, scene=scene,
            category=category, cart_items=cart_items, cart_value=cart_value, ordered=ordered,
        )  # fmt: skip
    return SessionState(
        session_id=current.session_id, started_ms=current.started_ms, last_ms=max(current.last_ms, ts_ms),
        channel=current.channel, scene=scene, events=current.events + 1, category=category or current.category,
        cart_items=cart_items, cart_value=cart_value, ordered=ordered,
    )  # fmt: skip
