"""A seeded corpus of hostile input messages, each with the outcome the service owes it.

Every case is one Kafka record (topic, key, raw value) plus what must happen to it:
``expect="dlq"`` cases must reach ``ops.dlq`` with ``reason`` as the error code;
``expect="decide"`` cases must get one decision on each topic in ``decisions``.

What counts as valid (decided) is the schema's verdict (:mod:`schemas.events`), and
the corpus states it case by case:

- **decided**: unknown fields (extra, also huge or deeply nested ones: ignored), an
  unknown product or campaign id (the event is fine; a product view of an unknown
  product gets a bid for its slot but no price), a duplicated ``event_id`` (decided
  again with the same ``decision_id``: delivery is at-least-once), control characters
  in free text (``page``, ``query``), timestamps at the edges of 2000..2100, the largest
  allowed amounts and quantities, a huge key, personal data (e-mail ``user_id``, raw
  IP in ``ip_hash``, a card number in ``card_hash`` or in a query: masked at ingest).
- **dead-lettered**: not JSON, JSON that is not an object, NaN/Infinity, nesting
  deeper than the parser's limit, invalid UTF-8 and UTF-16 text, a UTF-8 BOM,
  negative or too large amounts (also "NaN" strings), zero, negative, fractional or too
  large quantities, timestamps outside 2000..2100 or without zone, control
  characters in ids, strings and arrays above the schema limits in known fields,
  messages above ``max_message_bytes``, missing or unknown ``kind``, a kind on the
  wrong topic, missing required fields, wrong types, tombstones (no value).

Examples
--------
>>> at = datetime(2026, 1, 1, tzinfo=UTC)
>>> cases = fuzz_corpus(200, seed=1, max_message_bytes=4096, products=("p-1",), now=at)
>>> len(cases), cases == fuzz_corpus(200, seed=1, max_message_bytes=4096, products=("p-1",), now=at)
(200, True)
>>> sorted({c.expect for c in cases})
['decide', 'dlq']
"""

from __future__ import annotations

import codecs
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

from schemas.reasons import DlqReason
from streams.topics import BIDS, CLICKS, FRAUD, ORDERS, PRICES, SEARCHES

Expect = Literal["decide", "dlq"]
Json = dict[str, Any]

DEEP_NESTING: Final = 2_000
"""Nesting depth above orjson's limit (1024): the message is not parseable."""
SHALLOW_NESTING: Final = 200
"""Nesting depth inside an unknown field: parseable and ignored."""
SCHEMA_STR_MAX: Final = 4096
"""Longest string a known field accepts (``Record.str_max_length``)."""
SCHEMA_ITEMS_MAX: Final = 500
CARD_NUMBERS: Final[tuple[str, ...]] = ("4111111111111111", "5555555555554444", "378282246310005")
"""Test card numbers (Luhn-valid, issued for testing by the card networks)."""


@dataclass(frozen=True)
class FuzzCase:
    """One record and its owed outcome; ``pii`` lists raw personal data it carries."""

    case: str
    topic: str
    key: bytes | None
    value: bytes | None
    expect: Expect
    reason: str = ""
    event_id: str = ""
    decisions: tuple[str, ...] = ()
    pii: tuple[str, ...] = field(default=())


class _Draw:
    """Seeded draws of ids, users and base events."""

    def __init__(self, seed: int, products: Sequence[str], campaigns: Sequence[str], now: datetime) -> None:
        self.rng = random.Random(seed)
        self.products = list(products)
        self.campaigns = list(campaigns)
        self.now = now
        self.serial = 0

    def event_id(self, case: str) -> str:
        self.serial += 1
        return f"fz-{case}-{self.serial:06d}"

    def user(self) -> str:
        return f"fu-{self.rng.randrange(64):02d}"

    def base(self, kind: str, case: str, **fields: Any) -> Json:
        return {"kind": kind, "event_id": self.event_id(case), "ts": self.now.isoformat(), "user_id": self.user(),
                "channel": self.rng.choice(("web", "app", "store")), "locale": "en-US", **fields}  # fmt: skip

    def slot(self) -> Json:
        return {"slot_id": f"slot-{self.rng.randrange(8)}", "floor_cpm": round(self.rng.uniform(0, 2), 2)}

    def order(self, case: str, **fields: Any) -> Json:
        price = round(self.rng.uniform(1, 200), 2)
        qty = self.rng.randint(1, 3)
        body = {"order_id": f"o-{self.serial + 1}", "amount": round(price * qty, 2), "currency": "USD",
                "items": [{"product_id": self.rng.choice(self.products), "quantity": qty, "unit_price": price}],
                "payment": {"method": "card", "card_hash": f"h{self.rng.randrange(10**6)}"}}  # fmt: skip
        body.update(fields)
        return self.base("order", case, **body)

    def valid(self, case: str) -> tuple[str, Json, tuple[str, ...]]:
        """A valid event of a deciding kind: (topic, event, decision topics)."""
        pick = self.rng.randrange(4)
        if pick == 0:
            event = self.base("product_view", case, product_id=self.rng.choice(self.products), ad_slot=self.slot())
            return CLICKS, event, (BIDS, PRICES)
        if pick == 1:
            return CLICKS, self.base("page_view", case, page="/deals", ad_slot=self.slot()), (BIDS,)
        if pick == 2:
            query = self.rng.choice(("wireless earbuds", "手机壳", "zapatillas de correr", "lego set"))
            return SEARCHES, self.base("search", case, query=query, ad_slot=self.slot()), (BIDS,)
        return ORDERS, self.order(case), (FRAUD,)


def _decided(d: _Draw, case: str, topic: str, event: Json, decisions: tuple[str, ...], *,
             key: bytes | None = None, pii: tuple[str, ...] = (), raw: bytes | None = None) -> FuzzCase:  # fmt: skip
    value = raw if raw is not None else orjson.dumps(event)
    return FuzzCase(case, topic, key if key is not None else str(event["user_id"]).encode(), value, "decide",
                    event_id=event["event_id"], decisions=decisions, pii=pii)  # fmt: skip


def _dead(case: str, topic: str, value: bytes | None, reason: DlqReason, pii: tuple[str, ...] = ()) -> FuzzCase:
    return FuzzCase(case, topic, f"fk-{case}".encode(), value, "dlq", reason=reason.value, pii=pii)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _with(event: Json, **changes: Any) -> Json:
    return {**event, **changes}


def _without(event: Json, name: str) -> Json:
    return {k: v for k, v in event.items() if k != name}


CaseMaker = Callable[[_Draw, int], FuzzCase]


def _cases() -> dict[str, CaseMaker]:
    """Every mutation, by name: a function of the draws and the size limit."""
    v = DlqReason

    def invalid(reason: DlqReason, make: Callable[[_Draw], tuple[str, bytes | None]]) -> CaseMaker:
        def build(d: _Draw, _limit: int) -> FuzzCase:
            topic, value = make(d)
            return _dead("", topic, value, reason)

        return build

    def field_invalid(reason: DlqReason, mutate: Callable[[_Draw, Json], Json]) -> CaseMaker:
        def build(d: _Draw, _limit: int) -> FuzzCase:
            topic, event, _ = d.valid("bad")
            return _dead("", topic, orjson.dumps(mutate(d, event)), reason)

        return build

    def order_invalid(mutate: Callable[[_Draw, Json], Json]) -> CaseMaker:
        def build(d: _Draw, _limit: int) -> FuzzCase:
            return _dead("", ORDERS, orjson.dumps(mutate(d, d.order("bad"))), v.VALIDATION)

        return build

    def valid(mutate: Callable[[_Draw, str, Json, tuple[str, ...]], tuple[Json, tuple[str, ...]]]) -> CaseMaker:
        def build(d: _Draw, _limit: int) -> FuzzCase:
            topic, event, decisions = d.valid("ok")
            event, decisions = mutate(d, topic, event, decisions)
            return _decided(d, "", topic, event, decisions)

        return build

    def oversized(factor: float) -> CaseMaker:
        def build(d: _Draw, limit: int) -> FuzzCase:
            topic, event, _ = d.valid("big")
            return _dead("", topic, orjson.dumps(_with(event, page="x" * int(limit * factor))), v.TOO_LARGE)

        return build

    def deep_extra(d: _Draw, topic: str, e: Json, ds: tuple[str, ...]) -> tuple[Json, tuple[str, ...]]:
        return _with(e, extra=_nested(SHALLOW_NESTING)), ds

    def huge_extra(d: _Draw, limit: int) -> FuzzCase:
        topic, event, decisions = d.valid("ok")
        room = limit // 4  # a quarter of the limit each: the message stays below it
        event = _with(event, blob="y" * room, numbers=[9] * (room // 2))
        return _decided(d, "", topic, event, decisions)

    def extra_fields(d: _Draw, topic: str, e: Json, ds: tuple[str, ...]) -> tuple[Json, tuple[str, ...]]:
        return _with(e, **{f"x{i}": d.rng.random() for i in range(d.rng.randint(1, 20))}), ds

    def ts_edges(d: _Draw, topic: str, e: Json, ds: tuple[str, ...]) -> tuple[Json, tuple[str, ...]]:
        return _with(e, ts=d.rng.choice(("2000-01-01T00:00:00+00:00", "2099-12-31T23:59:59+14:00",
                                         946_684_800_000, 4_102_444_000_000))), ds  # fmt: skip

    def control_text(d: _Draw, topic: str, e: Json, ds: tuple[str, ...]) -> tuple[Json, tuple[str, ...]]:
        text = "a\x00b\x07c\x1b[31m\u202e\ufeff\r\n\t" + chr(d.rng.randrange(0x20))
        if e["kind"] == "search":
            return _with(e, query=text), ds
        if e["kind"] == "page_view":
            return _with(e, page=text), ds
        return _with(e, session_id="s\u202eok"), ds

    def extreme_numbers(d: _Draw, topic: str, e: Json, ds: tuple[str, ...]) -> tuple[Json, tuple[str, ...]]:
        if e["kind"] == "order":
            items = [{"product_id": "p-unknown", "quantity": 10_000, "unit_price": 1e9}] * SCHEMA_ITEMS_MAX
            return _with(e, amount=1e9, items=items, account_age_days=36_500), ds
        return _with(e, ad_slot={"slot_id": "s", "floor_cpm": 1e9, "tmax_ms": 60_000}), ds

    def unknown_catalog(d: _Draw, topic: str, e: Json, ds: tuple[str, ...]) -> tuple[Json, tuple[str, ...]]:
        if e["kind"] == "order":
            return _with(e, items=[{"product_id": "p-nowhere", "quantity": 1, "unit_price": 5}]), ds
        if e["kind"] == "product_view":
            return _with(e, product_id="p-nowhere"), (BIDS,)
        return e, ds

    def wrong_types(d: _Draw, e: Json) -> Json:
        name, value = d.rng.choice((("user_id", 123), ("event_id", ["x"]), ("ts", True), ("channel", {"a": 1}),
                                    ("session_id", 42), ("locale", 7)))  # fmt: skip
        return _with(e, **{name: value})

    def missing(d: _Draw, e: Json) -> Json:
        return _without(e, d.rng.choice(("event_id", "ts", "user_id", "channel")))

    def bad_ids(d: _Draw, e: Json) -> Json:
        return _with(e, **{d.rng.choice(("event_id", "user_id")): d.rng.choice(("a\x00b", "x\ny", "", "z" * 129))})

    def ts_out(d: _Draw, e: Json) -> Json:
        return _with(e, ts=d.rng.choice(("1969-07-20T20:17:40Z", "2150-01-01T00:00:00Z", "1999-12-31T23:59:59Z",
                                         -1, 9_999_999_999_999_999, "2026-01-01T00:00:00", "yesterday")))  # fmt: skip

    def huge_known(d: _Draw, e: Json) -> Json:
        return _with(e, event_id="e" * SCHEMA_STR_MAX * 2) if d.rng.random() < 0.5 else _with(e, locale="x" * 5000)

    def utf16(d: _Draw) -> tuple[str, bytes]:
        topic, event, _ = d.valid("u16")
        text = orjson.dumps(event).decode()
        return topic, d.rng.choice((codecs.BOM_UTF16_LE + text.encode("utf-16-le"), text.encode("utf-16")))

    def utf16_no_bom(d: _Draw) -> tuple[str, bytes]:
        topic, event, _ = d.valid("u16")
        return topic, json.dumps(event).encode("utf-16-be")  # ASCII JSON: every byte pair is valid UTF-8

    def bad_utf8(d: _Draw) -> tuple[str, bytes]:
        topic, event, _ = d.valid("u8")
        raw = orjson.dumps(_with(event, page="PLACEHOLDER"))
        junk = d.rng.choice((b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80abc", b"\xf8\x88\x80\x80\x80"))
        return topic, raw.replace(b"PLACEHOLDER", junk)

    def latin1(d: _Draw) -> tuple[str, bytes]:
        event = d.base("page_view", "l1", page="café", ad_slot=d.slot())
        return CLICKS, orjson.dumps(event).decode().encode("latin-1")

    def not_json(d: _Draw) -> tuple[str, bytes]:
        topic = d.rng.choice((CLICKS, SEARCHES, ORDERS))
        return topic, d.rng.choice((b"hello", b"", b"{", b'{"kind": "order",', b"<xml/>", b"{'a': 1}", b"\x00\x00",
                                    b'{"kind":"page_view"}{"kind":"page_view"}', b"[1,2", b"1e999", b"-"))  # fmt: skip

    def nan_inf(d: _Draw) -> tuple[str, bytes]:
        raw = orjson.dumps(d.order("nan"))
        literal = d.rng.choice((b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"))
        return ORDERS, raw.replace(b'"amount":', b'"amount":' + literal + b",\"_was\":", 1)

    def non_object(d: _Draw) -> tuple[str, bytes]:
        topic = d.rng.choice((CLICKS, SEARCHES, ORDERS))
        return topic, d.rng.choice((b"[]", b"[{\"kind\":\"order\"}]", b"42", b'"order"', b"null", b"true", b"3.14"))

    def deep(d: _Draw) -> tuple[str, bytes]:
        return CLICKS, b'{"kind":"page_view","x":' + b"[" * DEEP_NESTING + b"]" * DEEP_NESTING + b"}"

    def bom(d: _Draw) -> tuple[str, bytes]:
        topic, event, _ = d.valid("bom")
        return topic, codecs.BOM_UTF8 + orjson.dumps(event)

    def unknown_kind(d: _Draw) -> tuple[str, bytes]:
        topic, event, _ = d.valid("kind")
        kind = d.rng.choice(("teleport", "", None, 3, "ORDER", "order "))
        return topic, orjson.dumps(_with(event, kind=kind) if kind is not None else _without(event, "kind"))

    def wrong_topic(d: _Draw) -> tuple[str, bytes]:
        topic, event, _ = d.valid("topic")
        other = d.rng.choice([t for t in (CLICKS, SEARCHES, ORDERS) if t != topic])
        return other, orjson.dumps(event)

    def tombstone(d: _Draw) -> tuple[str, None]:
        return d.rng.choice((CLICKS, SEARCHES, ORDERS)), None

    def quantity(d: _Draw, e: Json) -> Json:
        qty = d.rng.choice((0, -1, -(2**40), 10_001, 2.5, 2**63 - 1))
        return _with(e, items=[{"product_id": "p", "quantity": qty, "unit_price": 1.0}])

    def amounts(d: _Draw, e: Json) -> Json:
        return _with(e, amount=d.rng.choice((-0.01, -1e9, 1e10, "NaN", "Infinity", "-inf")))

    def too_many_items(d: _Draw, e: Json) -> Json:
        return _with(e, items=[{"product_id": "p", "quantity": 1, "unit_price": 1.0}] * (SCHEMA_ITEMS_MAX + 1))

    def bad_card(d: _Draw, e: Json) -> Json:
        return _with(e, payment={"method": "card", "card_bin": d.rng.choice(CARD_NUMBERS)})

    makers: dict[str, CaseMaker] = {
        "not_json": invalid(v.INVALID_JSON, not_json),
        "nan_infinity": invalid(v.INVALID_JSON, nan_inf),
        "deep_nesting": invalid(v.INVALID_JSON, deep),
        "utf16_no_bom": invalid(v.INVALID_JSON, utf16_no_bom),
        "utf8_bom": invalid(v.INVALID_JSON, bom),
        "tombstone": invalid(v.INVALID_JSON, tombstone),
        "utf16": invalid(v.INVALID_UTF8, utf16),
        "invalid_utf8": invalid(v.INVALID_UTF8, bad_utf8),
        "latin1": invalid(v.INVALID_UTF8, latin1),
        "non_object": invalid(v.NOT_AN_OBJECT, non_object),
        "unknown_kind": invalid(v.UNKNOWN_KIND, unknown_kind),
        "wrong_topic": invalid(v.WRONG_TOPIC, wrong_topic),
        "wrong_types": field_invalid(v.VALIDATION, wrong_types),
        "missing_fields": field_invalid(v.VALIDATION, missing),
        "control_chars_in_ids": field_invalid(v.VALIDATION, bad_ids),
        "timestamp_out_of_range": field_invalid(v.VALIDATION, ts_out),
        "huge_known_string": field_invalid(v.VALIDATION, huge_known),
        "bad_quantity": order_invalid(quantity),
        "bad_amount": order_invalid(amounts),
        "huge_array": order_invalid(too_many_items),
        "card_number_as_bin": order_invalid(bad_card),
        "oversized": oversized(1.1),
        "oversized_beyond_fetch": oversized(5.0),
        "extra_fields": valid(extra_fields),
        "deep_nesting_extra": valid(deep_extra),
        "huge_extra": huge_extra,
        "timestamp_edges": valid(ts_edges),
        "control_chars_in_text": valid(control_text),
        "extreme_numbers": valid(extreme_numbers),
        "unknown_catalog_id": valid(unknown_catalog),
    }
    return makers


_MAKERS: Final = _cases()
RARE: Final = frozenset({"oversized", "huge_extra", "extreme_numbers", "deep_nesting",
                         "huge_array", "huge_known_string"})
"""Costly cases (large messages): drawn ten times less often."""
VERY_RARE: Final = frozenset({"oversized_beyond_fetch"})
"""Messages above the worker's fetch size (four times the limit): a hundred times less often."""
CASE_NAMES: Final[tuple[str, ...]] = (*_MAKERS, "duplicate_event_id", "pii_valid", "pii_invalid", "huge_key")


def _pii_valid(d: _Draw) -> FuzzCase:
    email = f"user{d.rng.randrange(10**6)}@example.com"
    card = d.rng.choice(CARD_NUMBERS)
    ip = f"203.0.113.{d.rng.randrange(1, 255)}"
    kind = d.rng.randrange(3)
    if kind == 0:
        event = d.order("pii", user_id=email, ip_hash=ip, payment={"method": "card", "card_hash": card})
        return _decided(d, "pii_valid", ORDERS, event, (FRAUD,), pii=(email, card, ip))
    if kind == 1:
        event = d.base("search", "pii", user_id=email, query=f"contact {email} card {card}", ad_slot=d.slot())
        return _decided(d, "pii_valid", SEARCHES, event, (BIDS,), pii=(email, card))
    event = d.base("page_view", "pii", page=f"/account?ip={ip}&mail={email}", session_id=email, ad_slot=d.slot())
    return _decided(d, "pii_valid", CLICKS, event, (BIDS,), pii=(email, ip))


def _pii_invalid(d: _Draw) -> FuzzCase:
    email = f"victim{d.rng.randrange(10**6)}@example.org"
    card = d.rng.choice(CARD_NUMBERS)
    ip = f"198.51.100.{d.rng.randrange(1, 255)}"
    event = d.order("piibad", user_id=email, ip_hash=ip, amount=-1,
                    payment={"method": "card", "card_hash": card})  # fmt: skip
    raw = orjson.dumps(event)
    if d.rng.random() < 0.3:  # also unreadable: the DLQ carries it as base64
        raw = raw.replace(b'"method"', b'"m\xffethod"')
        return FuzzCase("pii_invalid", ORDERS, email.encode(), raw, "dlq", DlqReason.INVALID_UTF8.value,
                        pii=(email, card, ip))  # fmt: skip
    if d.rng.random() < 0.3:
        raw = orjson.dumps(_with(event, kind=f"{email} {card}"))
        return FuzzCase("pii_invalid", ORDERS, email.encode(), raw, "dlq", DlqReason.UNKNOWN_KIND.value,
                        pii=(email, card, ip))  # fmt: skip
    return FuzzCase("pii_invalid", ORDERS, email.encode(), raw, "dlq", DlqReason.VALIDATION.value, pii=(email, card, ip))


def fuzz_corpus(
    count: int,
    *,
    seed: int,
    max_message_bytes: int,
    products: Sequence[str],
    campaigns: Sequence[str] = (),
    now: datetime | None = None,
) -> list[FuzzCase]:
    """``count`` hostile cases drawn from every mutation (large ones rarer).

    ``products`` are catalogued product ids (a valid product view of one gets a
    price); ``max_message_bytes`` is the worker's size limit. Each mutation appears
    at least once when ``count`` allows.
    """
    d = _Draw(seed, products, campaigns or ("c-none",), now or datetime.now(UTC))
    names = list(CASE_NAMES)
    weights = [0.01 if n in VERY_RARE else 0.1 if n in RARE else 1.0 for n in names]
    picks = names[:count] + d.rng.choices(names, weights, k=max(0, count - len(names)))
    out: list[FuzzCase] = []
    for name in picks:
        out.append(_one(d, name, max_message_bytes, out))
    return out


def _one(d: _Draw, name: str, limit: int, earlier: list[FuzzCase]) -> FuzzCase:
    if name == "duplicate_event_id":
        originals = [c for c in earlier if c.expect == "decide" and c.case != "duplicate_event_id"]
        if originals:
            first = d.rng.choice(originals)
            return FuzzCase(name, first.topic, first.key, first.value, "decide", event_id=first.event_id,
                            decisions=first.decisions, pii=first.pii)  # fmt: skip
        name = "extra_fields"
    if name == "pii_valid":
        return _pii_valid(d)
    if name == "pii_invalid":
        return _pii_invalid(d)
    if name == "huge_key":
        topic, event, decisions = d.valid("key")
        return _decided(d, name, topic, event, decisions, key=b"k" * 10_000)
    made = _MAKERS[name](d, limit)
    return FuzzCase(name, made.topic, made.key if made.expect == "decide" else f"fk-{name}".encode(), made.value,
                    made.expect, made.reason, made.event_id, made.decisions, made.pii)  # fmt: skip


def valid_messages(count: int, *, seed: int, products: Sequence[str], now: datetime | None = None) -> list[FuzzCase]:
    """``count`` plain valid events of deciding kinds (the traffic the fuzz cases hide in)."""
    d = _Draw(seed, products, (), now or datetime.now(UTC))
    out = []
    for _ in range(count):
        topic, event, decisions = d.valid("valid")
        out.append(_decided(d, "valid", topic, event, decisions))
    return out
