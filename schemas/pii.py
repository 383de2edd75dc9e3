"""Find personal data (e-mail addresses, card numbers, IP addresses) in text and mask it with keyed hashes.

A masked value becomes ``<kind:HASH>`` (HMAC-SHA256 with the ``pii_key``, 16 hex
digits): stable, so joins by user still work, and not reversible without the key.
Tokens contain no quote or backslash, so masking JSON text keeps it JSON.

Card numbers are 14 to 19 digits (spaces or dashes allowed between them) that pass
the Luhn check; 13-digit runs are left alone because epoch milliseconds look like them.

Examples
--------
>>> mask_text("mail bob@example.com from 203.0.113.9, card 4111 1111 1111 1111", "k" * 16)
'mail <email:...> from <ip:...>, card <card:...>'
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import re
from typing import Any, Final, TypeVar

from pydantic import BaseModel

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX = r"[0-9A-Fa-f]{1,4}"
PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    "card": re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){13,18}(?![0-9])"),
    "ip": re.compile(
        rf"(?<![0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9]|\.[0-9])"
        rf"|(?<![0-9A-Fa-f:])(?:(?:{_HEX}:){{7}}{_HEX}|(?:{_HEX}:){{1,6}}:(?:{_HEX}(?::{_HEX}){{0,5}})?)(?![0-9A-Fa-f:])"
    ),
}
HINTS: Final[dict[str, re.Pattern[str]]] = {
    "email": re.compile(r"@"),
    "card": re.compile(r"[0-9](?:[ -]?[0-9]){13}"),
    "ip": re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]|::|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:"),
}
"""Cheap tests, one per pattern: the pattern cannot match where its hint does not."""
_HINT: Final = re.compile("|".join(hint.pattern for hint in HINTS.values()).encode())
"""All hints at once, on bytes: nothing can match when this does not."""
_DIGITS_AS_ZERO: Final = bytes(0x30 if 0x30 <= b <= 0x39 else b if b in b".:" else 0x78 for b in range(256))
"""Byte map: ASCII digits to ``0``, dot and colon kept, every other byte to ``x``."""
_HEX_AS_H: Final = bytes(0x68 if chr(b) in "0123456789abcdefABCDEF" else b if b in b":" else 0x78 for b in range(256))
"""Byte map: hex digits to ``h``, colon kept, every other byte to ``x``."""
_CARD_RUN: Final = b"0" * 14
_IPV4_RUN: Final = re.compile(rb"0\.0{1,3}\.0")
_IPV6_RUN: Final = re.compile(rb":h{1,4}:h{1,4}:")
HASH_HEX: Final = 16
_UTF16_BOMS: Final = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))

M = TypeVar("M", bound=BaseModel)
OPAQUE_IDS: Final = frozenset({"event_id", "decision_id"})
"""Never masked: decisions derive their ids from ``event_id``, and win notices and clicks join
their bid by ``decision_id``; a masked id breaks the contract (``bid-…`` hex ids hold long digit
runs that can pass the Luhn check)."""


def keyed_hash(value: str, key: str) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, 32 hex digits.

    Examples
    --------
    >>> keyed_hash("alice@example.com", "k" * 16) == keyed_hash("alice@example.com", "k" * 16)
    True
    """
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string.

    Examples
    --------
    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card_number(candidate: str) -> str | None:
    """The digits of a card-number candidate (spaces and dashes dropped) when they pass Luhn, else None."""
    digits = re.sub(r"[ -]", "", candidate)
    return digits if luhn_ok(digits) else None


def _token(kind: str, value: str, key: str) -> str:
    return f"<{kind}:{keyed_hash(value, key)[:HASH_HEX]}>"


def mask_text(text: str, key: str) -> str:
    """``text`` with every e-mail address, card number and IP address replaced by a keyed token.

    Returns ``text`` itself when nothing was found.

    Examples
    --------
    >>> mask_text("order 1700000000000 at 12:30:01, v1.2.3", "k" * 16)
    'order 1700000000000 at 12:30:01, v1.2.3'
    >>> mask_text("ip 2001:db8::1 and fe80:0:0:0:0:0:0:1", "k" * 16).count("<ip:")
    2
    >>> mask_text("4111111111111112 is no card", "k" * 16)
    '4111111111111112 is no card'
    """
    if not _HINT.search(text.encode("utf-8", "surrogatepass")):
        return text

    def card(match: re.Match[str]) -> str:
        digits = _card_number(match.group())
        return _token("card", digits, key) if digits is not None else match.group()

    out = PATTERNS["email"].sub(lambda m: _token("email", m.group().lower(), key), text)
    out = PATTERNS["card"].sub(card, out)
    out = PATTERNS["ip"].sub(lambda m: _token("ip", m.group().lower(), key), out)
    return text if out == text else out


def mask_bytes(raw: bytes, key: str) -> bytes:
    """Mask personal data in a message of any encoding: UTF-16 (with BOM or NUL-interleaved) or bytes.

    Other bytes are read as Latin-1, so every byte survives and only ASCII-spelled
    personal data (also inside invalid UTF-8) is replaced.

    Examples
    --------
    >>> mask_bytes(b"\\xff bob@example.com", "k" * 16).startswith(b"\\xff <email:")
    True
    >>> b"bob" in mask_bytes("bob@example.com".encode("utf-16"), "k" * 16)
    False
    """
    for bom, codec in _UTF16_BOMS:
        if raw.startswith(bom):
            return bom + _mask_codec(raw[len(bom) :], codec, key)
    if raw.count(0) * 4 >= len(raw) > 0:
        codec = "utf-16-be" if raw[0] == 0 else "utf-16-le"
        return _mask_codec(raw, codec, key)
    if not _HINT.search(raw):
        return raw
    return mask_text(raw.decode("latin-1"), key).encode("latin-1")


def _mask_codec(raw: bytes, codec: str, key: str) -> bytes:
    try:
        text = raw.decode(codec, "surrogatepass")
    except UnicodeDecodeError:
        return mask_text(raw.decode("latin-1"), key).encode("latin-1")
    masked = mask_text(text, key)
    return raw if masked is text else masked.encode(codec, "surrogatepass")


def may_hold_pii(raw: bytes) -> bool:
    """Whether ``raw`` could hold personal data at all (a cheap pre-check before masking fields).

    Examples
    --------
    >>> may_hold_pii(b'{"user_id":"u-1","ts":"2026-01-01T00:00:00Z"}'), may_hold_pii(b'{"user_id":"a@b.co"}')
    (False, True)
    """
    return _HINT.search(raw) is not None


def raw_may_hold_pii(raw: bytes) -> bool:
    """Whether a JSON message could decode to any text :func:`text_holds_pii` says yes to (a pre-filter, no regex on the text).

    Conservative by construction: every :data:`HINTS` match in a decoded string is spelled
    out in the raw bytes unless JSON escapes were used, and a backslash sends the message to
    the exact check. Card runs are tested with separators deleted (a superset of the hint),
    addresses on digit and hex maps of the bytes; about 3 µs for a 300-byte event, half of the
    field-by-field check it spares.

    Examples
    --------
    >>> raw_may_hold_pii(b'{"session_id":"s-08a118a4-00000000","ts":"2026-12-07T00:00:00.000+00:00"}')
    False
    >>> [raw_may_hold_pii(v) for v in (b'"a@b.co"', b'"4111 1111-1111 11"', b'"10.0.0.1"', b'"fe80::1"',
    ...                                  b'"0:1:2:3:4:5:6:7"', b'"\\u0040"')]
    [True, True, True, True, True, True]
    """
    # find(), not ``in``: bytes.__contains__ first tries its argument as an integer and formats a TypeError
    if raw.find(b"@") >= 0 or raw.find(b"\\") >= 0 or raw.find(b"::") >= 0:
        return True
    digits = raw.translate(_DIGITS_AS_ZERO)
    if raw.translate(_DIGITS_AS_ZERO, b" -").find(_CARD_RUN) >= 0 or (
        digits.find(b"0.0") >= 0 and _IPV4_RUN.search(digits)
    ):
        return True
    return _IPV6_RUN.search(raw.translate(_HEX_AS_H)) is not None


def text_holds_pii(text: str) -> bool:
    """Whether :func:`mask_text` would change ``text``: an e-mail or IP address, or a card number that passes Luhn.

    Digit runs that only look like card numbers are common in identifiers (a session id such
    as ``s-6a114080-00000000`` holds 14 digits around a dash); they pass the cheap hint but
    not the Luhn check, so the event is not copied field by field for nothing.

    Examples
    --------
    >>> text_holds_pii("s-6a114080-00000000"), text_holds_pii("card 4111 1111 1111 1111")
    (False, True)
    >>> text_holds_pii("mail a@b.co"), text_holds_pii("from 10.0.0.1"), text_holds_pii("v1.2.3")
    (True, True, False)
    """
    if not _HINT.search(text.encode("utf-8", "surrogatepass")):
        return False
    if any(HINTS[kind].search(text) and PATTERNS[kind].search(text) for kind in ("email", "ip")):
        return True
    if not HINTS["card"].search(text):
        return False
    return any(_card_number(match.group()) is not None for match in PATTERNS["card"].finditer(text))


def model_may_hold_pii(model: BaseModel) -> bool:
    """Whether :func:`mask_model` would change a string field of ``model`` (nested models and lists, opaque ids left out).

    Checks the decoded text, not the raw JSON: cheaper (keys, numbers and timestamps are not
    scanned) and exact where the raw bytes are not (``\\u0040`` in JSON is an ``@`` once decoded).
    Fields are joined by a NUL, which no pattern matches, so no match spans two fields and a
    match in the joined text is a match in its field.

    Examples
    --------
    >>> from schemas.events import Payment
    >>> model_may_hold_pii(Payment(method="card", card_hash="h")), model_may_hold_pii(Payment(method="a@b.co"))
    (False, True)
    """
    texts: list[str] = []
    _collect_text(model, texts)
    return text_holds_pii("\x00".join(texts))


def _collect_text(value: Any, texts: list[str]) -> None:
    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            if name not in OPAQUE_IDS:
                _collect_text(getattr(value, name), texts)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_text(item, texts)


def mask_model(model: M, key: str) -> M:
    """A copy of ``model`` whose string fields (nested models and lists too) are masked; ``model`` if unchanged.

    Examples
    --------
    >>> from schemas.events import Payment
    >>> p = mask_model(Payment(method="card", card_hash="4111111111111111"), "k" * 16)
    >>> p.card_hash.startswith("<card:"), p.method
    (True, 'card')
    >>> from schemas.events import AdClick
    >>> from datetime import UTC, datetime
    >>> click = AdClick(kind="ad_click", event_id="e1", ts=datetime(2026, 1, 1, tzinfo=UTC), user_id="u",
    ...                 session_id="s", channel="web", decision_id="bid-4111111111111111aaaa", campaign_id="c")
    >>> mask_model(click, "k" * 16).decision_id
    'bid-4111111111111111aaaa'

    """
    changes: dict[str, Any] = {}
    for name in type(model).model_fields:
        if name in OPAQUE_IDS:
            continue
        value = getattr(model, name)
        masked = _mask_value(value, key)
        if masked is not value:
            changes[name] = masked
    return model.model_copy(update=changes) if changes else model


def _mask_value(value: Any, key: str) -> Any:
    if isinstance(value, str):
        return mask_text(value, key)
    if isinstance(value, BaseModel):
        return mask_model(value, key)
    if isinstance(value, list | tuple):
        items = [_mask_value(v, key) for v in value]
        return type(value)(items) if any(a is not b for a, b in zip(items, value)) else value
    return value
