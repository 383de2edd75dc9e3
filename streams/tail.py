"""How ``streamdecide tail`` shows one message: raw JSON, or one readable line."""

from __future__ import annotations

from schemas.codec import loads
from streams.topics import BIDS, DLQ, FRAUD, PRICES

_FIELDS: dict[str, tuple[str, ...]] = {
    BIDS: ("scene", "slot_id", "bid_cpm", "campaign_id", "p_ctr", "degraded", "reasons"),
    PRICES: ("scene", "product_id", "price", "list_price", "p_convert", "degraded", "reasons"),
    FRAUD: ("scene", "order_id", "action", "risk_score", "degraded", "reasons"),
    DLQ: ("source_topic", "partition", "offset", "error"),
}


def render(topic: str, value: bytes | None, *, as_json: bool) -> str:
    """One line for one message.

    Examples
    --------
    >>> render("decisions.fraud", b'{"event_id":"e1","scene":"checkout","order_id":"o1","action":"allow",'
    ...        b'"risk_score":0.01,"degraded":false,"reasons":["low_risk"]}', as_json=False)
    'decisions.fraud e1 scene=checkout order_id=o1 action=allow risk_score=0.01 degraded=False reasons=low_risk'
    """
    if value is None:
        return f"{topic} <tombstone>"
    if as_json:
        return value.decode("utf-8", "replace")
    try:
        data = loads(value)
    except ValueError:
        return f"{topic} <not JSON: {len(value)} bytes>"
    if not isinstance(data, dict):
        return f"{topic} {data!r}"
    fields = _FIELDS.get(topic, tuple(data))
    parts = []
    for name in fields:
        item = data.get(name)
        parts.append(f"{name}={','.join(map(str, item)) if isinstance(item, list) else item}")
    return f"{topic} {data.get('event_id', '')} {' '.join(parts)}".replace("  ", " ")
