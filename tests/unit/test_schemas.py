"""Schemas: the JSON Schema files are current, and every way an input can be bad has its DLQ reason."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from schemas.codec import dead_letter, decode_event, encode
from schemas.errors import DecodeError
from schemas.export import JSON_DIR, schema_documents
from schemas.pii import mask_model, may_hold_pii, model_may_hold_pii
from schemas.reasons import DlqReason

KEY = "k" * 16

BASE = {"event_id": "e-1", "ts": "2026-11-23T10:00:00+01:00", "user_id": "u-1", "channel": "web"}

VALID = [
    ("events.clicks", {**BASE, "kind": "page_view", "page": "/home", "ad_slot": {"slot_id": "s1", "floor_cpm": 0.5}}),
    ("events.clicks", {**BASE, "kind": "product_view", "product_id": "p-1"}),
    ("events.clicks", {**BASE, "kind": "add_to_cart", "product_id": "p-1", "quantity": 2, "price": 9.5}),
    ("events.clicks", {**BASE, "kind": "ad_impression", "decision_id": "bid-1", "campaign_id": "c-1", "clearing_cpm": 2}),
    ("events.clicks", {**BASE, "kind": "ad_click", "decision_id": "bid-1", "campaign_id": "c-1"}),
    ("events.searches", {**BASE, "kind": "search", "query": "手机壳", "locale": "zh-CN"}),
    (
        "events.orders",
        {
            **BASE,
            "kind": "order",
            "order_id": "o-1",
            "items": [{"product_id": "p-1", "quantity": 1, "unit_price": 10}],
            "amount": 10,
            "currency": "EUR",
            "payment": {"method": "card", "card_hash": "ab12", "card_bin": "411111"},
        },
    ),
    ("events.orders", {**BASE, "kind": "chargeback", "order_id": "o-1"}),
    ("events.orders", {**BASE, "kind": "refund", "order_id": "o-1", "amount": 3.5}),
]


def test_schema_files_are_current() -> None:
    docs = schema_documents()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in JSON_DIR.glob("*.schema.json")}
    stale = sorted(name for name in docs if on_disk.get(name) != docs[name])
    assert not stale, f"run `make schemas`: stale or missing {stale}"
    assert set(on_disk) == set(docs), "schemas/json has files no model produces"


@pytest.mark.parametrize(("topic", "event"), VALID, ids=[e["kind"] for _, e in VALID])
def test_every_kind_roundtrips(topic: str, event: dict) -> None:
    decoded = decode_event(orjson.dumps(event), topic)
    assert decoded.kind == event["kind"]
    assert decode_event(encode(decoded), topic) == decoded


def test_epoch_millis_and_iso_agree() -> None:
    iso = decode_event(orjson.dumps({**VALID[1][1], "ts": "2026-11-23T09:00:00Z"}), "events.clicks")
    ms = decode_event(orjson.dumps({**VALID[1][1], "ts": 1795424400000}), "events.clicks")
    assert iso.ts == ms.ts == datetime(2026, 11, 23, 9, tzinfo=UTC)


BAD = [
    (b"{not json", DlqReason.INVALID_JSON),
    (b"\xff\xfe{}", DlqReason.INVALID_UTF8),
    (b"[1, 2]", DlqReason.NOT_AN_OBJECT),
    (orjson.dumps({**BASE, "kind": "teleport"}), DlqReason.UNKNOWN_KIND),
    (orjson.dumps({**BASE, "kind": "search", "query": "x"}), DlqReason.WRONG_TOPIC),
    (orjson.dumps({**BASE, "kind": "product_view"}), DlqReason.VALIDATION),
    (orjson.dumps({**BASE, "kind": "add_to_cart", "product_id": "p", "quantity": "many", "price": 1}), DlqReason.VALIDATION),
    (orjson.dumps({**BASE, "kind": "page_view", "page": "/", "ts": "2026-11-23T10:00:00"}), DlqReason.VALIDATION),
    (b"[" * 5000 + b"]" * 5000, DlqReason.INVALID_JSON),
    (b'{"kind":"page_view","page":"' + b"x" * 2_000_000 + b'"}', DlqReason.TOO_LARGE),
    (None, DlqReason.INVALID_JSON),
]


@pytest.mark.parametrize(("raw", "reason"), BAD, ids=[r.value + str(i) for i, (_, r) in enumerate(BAD)])
def test_bad_input_has_a_stable_reason(raw: bytes | None, reason: DlqReason) -> None:
    with pytest.raises(DecodeError) as info:
        decode_event(raw, "events.clicks")
    assert info.value.reason is reason


def test_dead_letter_keeps_the_original_bytes() -> None:
    raw = b"\xff not utf8"
    with pytest.raises(DecodeError) as info:
        decode_event(raw, "events.clicks")
    record = dead_letter(raw, b"u-1", "events.clicks", 3, 42, info.value, datetime.now(UTC), pii_key=KEY,
                         max_payload_bytes=4_000_000)  # fmt: skip
    assert record.payload_encoding == "base64" and record.payload_bytes == len(raw)
    assert record.error.startswith("invalid_utf8:") and (record.partition, record.offset) == (3, 42)


def test_dead_letter_keeps_a_message_far_over_the_size_limit() -> None:
    raw = b'{"kind":"page_view","page":"' + b"x" * 2_000_000 + b'"}'
    with pytest.raises(DecodeError) as info:
        decode_event(raw, "events.clicks")
    record = dead_letter(raw, None, "events.clicks", 0, 7, info.value, datetime.now(UTC), pii_key=KEY,
                         max_payload_bytes=4_000_000)  # fmt: skip
    assert record.payload.encode() == raw and record.error.startswith("too_large:")
    assert not record.payload_truncated


def test_dead_letter_keeps_at_most_the_payload_limit_and_says_so() -> None:
    raw = b'{"kind":"page_view","page":"' + "é".encode() * 3_000 + b'"}'
    with pytest.raises(DecodeError) as info:
        decode_event(raw, "events.clicks", max_bytes=1024)
    record = dead_letter(raw, b"u-1", "events.clicks", 0, 7, info.value, datetime.now(UTC), pii_key=KEY,
                         max_payload_bytes=1025)  # fmt: skip
    assert record.payload_truncated and record.payload_bytes == len(raw) and record.payload_encoding == "utf-8"
    assert raw.startswith(record.payload.encode()) and 1023 <= len(record.payload.encode()) <= 1025


def test_dead_letter_sends_control_characters_as_base64_and_masks_personal_data() -> None:
    raw = b'{"kind":"order","user_id":"eve@example.com","x":"\x00\x01"}' + b"\x00" * 100
    with pytest.raises(DecodeError) as info:
        decode_event(raw, "events.orders")
    record = dead_letter(raw, b"eve@example.com", "events.orders", 0, 1, info.value, datetime.now(UTC), pii_key=KEY,
                         max_payload_bytes=4096)  # fmt: skip
    assert record.payload_encoding == "base64" and len(record.payload) < 2 * len(raw)
    assert b"eve@" not in base64.b64decode(record.payload) and "eve@" not in (record.key or "")


def test_personal_data_escaped_in_the_json_is_found_in_the_decoded_text() -> None:
    raw = orjson.dumps({"kind": "search", "event_id": "e1", "ts": "2026-11-24T12:00:00Z", "user_id": "u-1",
                        "channel": "web", "query": "mail bob@example.com"}).replace(b"@", b"\\u0040")  # fmt: skip
    event = decode_event(raw, "events.searches")
    assert not may_hold_pii(raw) and model_may_hold_pii(event)
    assert "@" not in mask_model(event, "k" * 16).query
