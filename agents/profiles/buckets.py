"""Velocity buckets: per-user aggregates of new orders in tumbling event-time buckets, and windows merged from them.

The windowed velocity table holds one :class:`VelocityBucket` per user and
bucket (``bucket_ms`` wide, aligned to the epoch). A 1 h or 24 h window ending
at an order's event time is the merge of every bucket that *overlaps* it, so
it may also count orders up to one bucket older than the window (at most
``bucket_ms`` more), and orders in the window's last bucket that are later than
its end (late deliveries). Never fewer orders than the exact sliding window:
for fraud rules, an over-count by at most one bucket is the safe side.

The profile keeps the starts of the user's non-empty buckets
(``Profile.velocity_buckets``), so a read touches only buckets that hold
orders, not every bucket of the day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from agents.profiles.model import MONEY_DECIMALS, OrderMark

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class VelocityBucket:
    """Aggregates of a user's orders: count, amount, and the distinct keyed card / IP hashes and shipping countries.

    A window (the merge of its buckets) has the same shape.
    """

    orders: int = 0
    amount: float = 0.0
    cards: tuple[str, ...] = ()
    ship_countries: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()


EMPTY = VelocityBucket()


def bucket_start_ms(ts_ms: int, bucket_ms: int) -> int:
    """Start (epoch ms) of the bucket holding ``ts_ms``.

    Examples
    --------
    >>> [bucket_start_ms(t, 300_000) for t in (1_700_000_123_456, 299_999, 300_000)]
    [1700000100000, 0, 300000]
    """
    return ts_ms - ts_ms % bucket_ms


def _with(values: tuple[str, ...], value: str | None) -> tuple[str, ...]:
    if value is None or value in values:
        return values
    return tuple(sorted((*values, value)))


def add_order(bucket: VelocityBucket | None, mark: OrderMark) -> VelocityBucket:
    """The bucket with one more order (``mark``'s card and IP are already keyed hashes).

    Examples
    --------
    >>> b = add_order(None, OrderMark("o1", 0, 20.0, card="A", shipping_country="US"))
    >>> add_order(b, OrderMark("o2", 1, 5.5, card="A", ip="i", shipping_country="NG"))
    VelocityBucket(orders=2, amount=25.5, cards=('A',), ship_countries=('NG', 'US'), ips=('i',))
    """
    bucket = bucket or EMPTY
    return VelocityBucket(
        orders=bucket.orders + 1,
        amount=round(bucket.amount + mark.amount, MONEY_DECIMALS),
        cards=_with(bucket.cards, mark.card),
        ship_countries=_with(bucket.ship_countries, mark.shipping_country),
        ips=_with(bucket.ips, mark.ip),
    )


def merge_buckets(buckets: Iterable[VelocityBucket]) -> VelocityBucket:
    """One aggregate of several buckets: counts and amounts add up, distinct values are united.

    Examples
    --------
    >>> merge_buckets([VelocityBucket(2, 40.0, ("A",), ("US",)), VelocityBucket(1, 9.5, ("A", "B"), ("US",), ("i",))])
    VelocityBucket(orders=3, amount=49.5, cards=('A', 'B'), ship_countries=('US',), ips=('i',))
    >>> merge_buckets([]) == EMPTY
    True
    """
    orders, amount = 0, 0.0
    cards: set[str] = set()
    countries: set[str] = set()
    ips: set[str] = set()
    for bucket in buckets:
        orders += bucket.orders
        amount += bucket.amount
        cards.update(bucket.cards)
        countries.update(bucket.ship_countries)
        ips.update(bucket.ips)
    return VelocityBucket(orders, round(amount, MONEY_DECIMALS), tuple(sorted(cards)), tuple(sorted(countries)),
                          tuple(sorted(ips)))  # fmt: skip


def index_bucket(index: tuple[int, ...], start_ms: int, keep_ms: int) -> tuple[int, ...]:
    """The user's non-empty bucket starts with ``start_ms`` added, forgetting those ``keep_ms`` older than the newest.

    Examples
    --------
    >>> index_bucket((0, 300_000), 600_000, 400_000), index_bucket((0, 300_000), 0, 400_000)
    ((300000, 600000), (0, 300000))
    """
    starts = set(index)
    starts.add(start_ms)
    newest = max(starts)
    return tuple(sorted(s for s in starts if s >= newest - keep_ms))


def read_windows(
    lookup: Callable[[int], VelocityBucket | None], index: Iterable[int], end_ms: int, bucket_ms: int
) -> tuple[VelocityBucket, VelocityBucket]:
    """The last hour and last 24 hours up to ``end_ms``, each merged from the indexed buckets overlapping it.

    ``lookup`` reads one bucket by its start; only starts in ``index`` (the
    user's non-empty buckets) inside the 24 h window are read, each once.

    Examples
    --------
    >>> t, b = 1_700_000_000_000, 300_000
    >>> table = {bucket_start_ms(t - 10 * 60_000, b): VelocityBucket(4, 80.0, ("A",)),
    ...          bucket_start_ms(t - 5 * HOUR_MS, b): VelocityBucket(1, 50.0, ("C",)),
    ...          bucket_start_ms(t - 2 * DAY_MS, b): VelocityBucket(9, 900.0)}
    >>> hour, day = read_windows(table.get, sorted(table), t, b)
    >>> hour.orders, day.orders, day.amount, day.cards
    (4, 5, 130.0, ('A', 'C'))
    """
    first_day = bucket_start_ms(end_ms - DAY_MS + 1, bucket_ms)
    first_hour = bucket_start_ms(end_ms - HOUR_MS + 1, bucket_ms)
    last = bucket_start_ms(end_ms, bucket_ms)
    day: list[VelocityBucket] = []
    hour: list[VelocityBucket] = []
    for start in index:
        if first_day <= start <= last:
            bucket = lookup(start)
            if bucket is not None:
                day.append(bucket)
                if start >= first_hour:
                    hour.append(bucket)
    return merge_buckets(hour), merge_buckets(day)


def bucket_to_json(bucket: VelocityBucket) -> bytes:
    """The bucket as compact JSON (the velocity table's changelog value).

    Examples
    --------
    >>> b = VelocityBucket(2, 30.5, ("A",), ("US",), ())
    >>> bucket_to_json(b), bucket_from_json(bucket_to_json(b)) == b
    (b'{"orders":2,"amount":30.5,"cards":["A"],"ship_countries":["US"],"ips":[]}', True)
    """
    return orjson.dumps(bucket)


def bucket_from_json(raw: bytes | str) -> VelocityBucket:
    """Rebuild a bucket from :func:`bucket_to_json` output (for table recovery)."""
    data = orjson.loads(raw)
    return VelocityBucket(
        orders=data["orders"],
        amount=data["amount"],
        cards=tuple(data["cards"]),
        ship_countries=tuple(data["ship_countries"]),
        ips=tuple(data["ips"]),
    )
