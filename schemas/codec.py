"""The one place that touches orjson: decode input events, encode every outgoing message.

Also registers the ``orjson`` codec with Faust so topics can carry pydantic models.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from schemas.errors import DecodeError
from schemas.events import EVENT_ADAPTER, EVENT_KINDS, KINDS_BY_TOPIC, Event
from schemas.ops import DlqRecord
from schemas.pii import mask_bytes, mask_text
from schemas.reasons import DlqReason

_MAX_ERRORS_SHOWN = 3


def encode(message: BaseModel | dict[str, Any]) -> bytes:
    """Serialise a model (or a plain dict) to compact UTF-8 JSON.

    Examples
    --------
    >>> from schemas.events import AdSlot
    >>> encode(AdSlot(slot_id="s1", floor_cpm=1.5))
    b'{"slot_id":"s1","floor_cpm":1.5,"tmax_ms":null}'
    """
    if isinstance(message, BaseModel):
        return orjson.dumps(message.model_dump(mode="json"))
    return orjson.dumps(message)


def loads(raw: bytes | str) -> Any:
    """Parse JSON (for consumers of decision and ops topics)."""
    return orjson.loads(raw)


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:_MAX_ERRORS_SHOWN]:
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - _MAX_ERRORS_SHOWN
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _require_utf8(raw: bytes) -> None:
    """Raise ``invalid_utf8`` naming the first bad byte, if ``raw`` is not UTF-8."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(DlqReason.INVALID_UTF8, f"byte {exc.start}: {exc.reason}") from None


def decode_event(raw: bytes | None, topic: str, max_bytes: int = 1_000_000) -> Event:
    """Decode and validate one input message from ``topic``.

    Raises
    ------
    DecodeError
        With a stable :class:`~schemas.reasons.DlqReason` and a readable detail.

    Examples
    --------
    >>> e = decode_event(b'{"kind":"search","event_id":"e1","ts":1700000000000,'
    ...                  b'"user_id":"u1","channel":"app","query":"phone case"}', "events.searches")
    >>> e.kind, e.ts.isoformat()
    ('search', '2023-11-14T22:13:20+00:00')
    >>> decode_event(b'{"kind":"order"}', "events.clicks")
    Traceback (most recent call last):
    ...
    schemas.errors.DecodeError: kind_not_allowed_on_topic: kind 'order' is not accepted on events.clicks
    """
    if raw is None:
        raise DecodeError(DlqReason.INVALID_JSON, "empty message (tombstone)")
    if len(raw) > max_bytes:
        raise DecodeError(DlqReason.TOO_LARGE, f"{len(raw)} bytes > limit {max_bytes}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        _require_utf8(raw)  # orjson refuses invalid UTF-8 too; the reason says which it was
        raise DecodeError(DlqReason.INVALID_JSON, str(exc)[:200]) from None
    if not isinstance(data, dict):
        raise DecodeError(DlqReason.NOT_AN_OBJECT, f"top level is {type(data).__name__}, expected an object")
    kind = data.get("kind")
    allowed = KINDS_BY_TOPIC.get(topic)
    if allowed is None:
        raise DecodeError(DlqReason.WRONG_TOPIC, f"{topic} is not an input topic")
    if not isinstance(kind, str) or kind not in EVENT_KINDS:
        raise DecodeError(DlqReason.UNKNOWN_KIND, f"kind {str(kind)[:64]!r} is not a known event kind")
    if kind not in allowed:
        raise DecodeError(DlqReason.WRONG_TOPIC, f"kind {kind!r} is not accepted on {topic}")
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise DecodeError(DlqReason.VALIDATION, _summarise(exc)) from None


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Characters JSON spells as six bytes (``\\u0000``): text holding them is sent as base64 (4/3 the size)."""


def payload_text(raw: bytes | None) -> tuple[str, str]:
    """The original bytes as ``(text, encoding)``: UTF-8 text when possible, else base64.

    Text with control characters goes as base64 too, so the encoded payload is at
    most about twice the raw size (a JSON escape of a control character takes six bytes).

    Examples
    --------
    >>> payload_text(b"hi"), payload_text(b"\\xff"), payload_text(b"a\\x00")
    (('hi', 'utf-8'), ('/w==', 'base64'), ('YQA=', 'base64'))
    """
    if raw is None:
        return "", "utf-8"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
    if _CONTROL.search(text):
        return base64.b64encode(raw).decode("ascii"), "base64"
    return text, "utf-8"


def truncate_utf8(raw: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of ``raw``, not ending inside a UTF-8 character.

    Examples
    --------
    >>> truncate_utf8("añb".encode(), 2), truncate_utf8(b"abc", 5)
    (b'a', b'abc')
    """
    if len(raw) <= limit:
        return raw
    cut = raw[:limit]
    try:
        cut.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(cut) - 3:
            return cut[: exc.start]
    return cut


def dead_letter(
    raw: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    error: Exception,
    received_at: Any,
    *,
    pii_key: str,
    max_payload_bytes: int,
) -> DlqRecord:
    """Build the ``ops.dlq`` record for a message that failed to decode (or to be decided).

    Personal data in the payload, the key and the error text is masked with
    ``pii_key`` (:mod:`schemas.pii`); every other byte is kept for replay, up to
    ``max_payload_bytes`` (``payload_truncated`` then says the rest was dropped, so
    a dead letter always fits the producer's request size). ``payload_bytes`` is
    the original size.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> err = DecodeError(DlqReason.INVALID_JSON, "x")
    >>> r = dead_letter(b'{"user_id":"bob@example.com"', b"bob@example.com", "events.clicks", 0, 5, err,
    ...                 datetime(2026, 1, 1, tzinfo=UTC), pii_key="k" * 16, max_payload_bytes=1024)
    >>> "bob" in r.payload + (r.key or ""), r.payload_bytes, r.payload_truncated
    (False, 28, False)
    """
    masked = mask_bytes(raw, pii_key) if raw is not None else None
    kept = truncate_utf8(masked, max_payload_bytes) if masked is not None else None
    payload, encoding = payload_text(kept)
    key_text = payload_text(mask_bytes(key, pii_key))[0] if key is not None else None
    return DlqRecord(
        source_topic=topic,
        partition=partition,
        offset=offset,
        key=key_text,
        payload=payload,
        payload_encoding=encoding,
        payload_bytes=len(raw or b""),
        payload_truncated=kept is not None and masked is not None and len(kept) < len(masked),
        error=mask_text(str(error), pii_key),
        received_at=received_at,
    )


def register_faust_codec() -> None:
    """Register ``orjson`` as a Faust codec: models and dicts in, JSON bytes out."""
    from faust.serializers import codecs

    class OrjsonCodec(codecs.Codec):
        def _dumps(self, obj: Any) -> bytes:
            return encode(obj)

        def _loads(self, s: bytes) -> Any:
            return orjson.loads(s)

    codecs.register("orjson", OrjsonCodec())
