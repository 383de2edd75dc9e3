"""The ingest agent's personal-data check says "mask" exactly when masking changes something.

The check runs on every event; masking copies an event field by field. A check that says
yes to identifiers full of digits (session ids, order ids) made every event pay for the
copy; one that says no where masking would change a field lets personal data through.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import orjson

from schemas.codec import decode_event
from schemas.errors import DecodeError
from schemas.pii import mask_model, mask_text, model_may_hold_pii, raw_may_hold_pii, text_holds_pii
from streams.synthetic.fuzz import CARD_NUMBERS, fuzz_corpus
from streams.synthetic.traffic import iter_events
from streams.synthetic.world import World

KEY = "k" * 32
START = datetime(2026, 11, 23, 12, tzinfo=UTC)
"""Session ids of this day's synthetic traffic hold 14-digit runs around a dash (``s-6a114080-00000000``)."""


def tricky_texts(seed: int, count: int) -> list[str]:
    """Digit runs with and without separators, card numbers, e-mail and IP addresses, IPv6, versions, ids."""
    rng = random.Random(seed)
    pieces = [
        lambda: "".join(rng.choice("0123456789") for _ in range(rng.randrange(10, 22))),
        lambda: "-".join("".join(rng.choice("0123456789") for _ in range(rng.randrange(2, 9))) for _ in range(3)),
        lambda: " ".join(rng.choice(CARD_NUMBERS)[i : i + 4] for i in range(0, 16, 4)),
        lambda: rng.choice(CARD_NUMBERS),
        lambda: f"s-{rng.randrange(16**8):08x}-{rng.randrange(10**8):08d}",
        lambda: f"user{rng.randrange(1000)}@example.com",
        lambda: ".".join(str(rng.randrange(0, 300)) for _ in range(4)),
        lambda: f"fe80::{rng.randrange(16**4):x}:{rng.randrange(16**4):x}",
        lambda: f"v{rng.randrange(9)}.{rng.randrange(99)}.{rng.randrange(9)}",
        lambda: rng.choice(["apple 手机壳", "zapatillas 42", "12:30:01", "1700000000000", "a@b", "::", ""]),
    ]
    return [" ".join(rng.choice(pieces)() for _ in range(rng.randrange(1, 4))) for _ in range(count)]


def test_text_check_agrees_with_masking_on_tricky_texts() -> None:
    texts = tricky_texts(seed=11, count=5_000)
    changed = [mask_text(t, KEY) != t for t in texts]
    assert [text_holds_pii(t) for t in texts] == changed
    assert 500 < sum(changed) < 4_500  # both answers are well represented


def escaped_json(text: str) -> bytes:
    """``{"query": text}`` with every character of ``text`` written as a ``\\uXXXX`` escape (valid JSON)."""
    units = text.encode("utf-16-be")
    escapes = "".join(f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2))
    return b'{"query":"' + escapes.encode() + b'"}'


def test_raw_pre_filter_passes_every_text_the_check_flags_also_when_escaped() -> None:
    texts = tricky_texts(seed=12, count=5_000)
    flagged = [t for t in texts if text_holds_pii(t)]
    assert len(flagged) > 500
    for text in flagged:
        assert raw_may_hold_pii(orjson.dumps({"query": text})), text
        assert raw_may_hold_pii(json.dumps({"query": text}).encode()), text  # non-ASCII as \\u escapes
        assert raw_may_hold_pii(escaped_json(text)), text
    plain = [t for t in texts if not any(c in t for c in "@:") and not text_holds_pii(t)]
    assert not all(raw_may_hold_pii(orjson.dumps({"query": t})) for t in plain)  # it does filter


def test_model_check_agrees_with_masking_on_synthetic_traffic_and_hostile_input() -> None:
    world = World.from_seed(7)
    stream = iter_events(world, START, 1_000.0, None)
    raws = [(t, orjson.dumps(v)) for t, _, v in (next(stream) for _ in range(3_000))]
    raws += [(case.topic, case.value) for case in fuzz_corpus(600, seed=3, max_message_bytes=1 << 20,
                                                              products=["p-00001"], now=START)
             if case.value is not None]  # fmt: skip
    events = []
    for topic, raw in raws:
        try:
            event = decode_event(raw, topic)
        except DecodeError:
            continue
        assert raw_may_hold_pii(raw) or not model_may_hold_pii(event), raw  # the pre-filter never hides a field
        events.append(event)
    masked = [mask_model(e, KEY) for e in events]
    assert all((m is e) == (m == e) for m, e in zip(masked, events, strict=True))  # a copy only when changed
    verdicts = [(model_may_hold_pii(e), m is not e) for e, m in zip(events, masked, strict=True)]
    assert all(check == masked for check, masked in verdicts), [
        e for e, (check, masked) in zip(events, verdicts, strict=True) if check != masked
    ][:3]
    assert any(masked for _, masked in verdicts)  # the fuzz corpus's personal data is there to be found
    assert sum(check for check, _ in verdicts) < len(events) / 4  # digit-heavy session ids alone are no reason
