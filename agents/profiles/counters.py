"""Velocity counters of one micro-batch: reads see the batch's earlier orders, writes are coalesced per bucket.

Staging calls :meth:`VelocityCounters.order_velocity` for each order in event
order, then :meth:`VelocityCounters.flush` once: each changed bucket is written
once per batch, attributed to the last order that changed it (its changelog
partition is the user's input partition, as for profiles).

Only a new order (one the profile update counted) is added to its bucket, and
its window counts are kept on its profile history entry; a redelivered order
reuses those counts, so it is neither counted twice nor decided differently
because of orders that arrived after its first delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.profiles.buckets import VelocityBucket, add_order, bucket_start_ms, read_windows
from agents.profiles.model import OrderMark, Profile
from agents.profiles.velocity import Velocity, order_velocity, remember_windows, remembered_velocity
from agents.tables import WindowedStore


def is_new_order(before: Profile | None, after: Profile) -> bool:
    """Whether the update ``before → after`` counted a new order (a redelivered ``order_id`` counts nothing).

    Examples
    --------
    >>> from agents.profiles.model import empty_profile, evolve
    >>> p = empty_profile("u", 0)
    >>> is_new_order(None, evolve(p, {"orders": 1})), is_new_order(p, p)
    (True, False)
    """
    return after.orders > (before.orders if before is not None else 0)


@dataclass
class VelocityCounters:
    """The windowed velocity store seen through one batch's pending writes.

    Examples
    --------
    >>> from agents.profiles.model import empty_profile, evolve
    >>> from agents.tables import MemoryWindowedStore
    >>> store = MemoryWindowedStore()
    >>> counters = VelocityCounters(store, bucket_ms=300_000)
    >>> t, before = 1_700_000_000_000, empty_profile("u", 0)
    >>> after = evolve(before, {"orders": 1, "velocity_buckets": (bucket_start_ms(t, 300_000),)})
    >>> after = evolve(after, {"history": (OrderMark("o1", t, 20.0, card="A"),)})
    >>> v, after = counters.order_velocity(before, after, OrderMark("o1", t, 20.0, card="A"), origin=None)
    >>> v.orders_1h, v.cards_24h, after.history[0].windows, store.data
    (1, 1, (1, 1, 20.0, 20.0, 1, 0, 0), {})
    >>> counters.flush(); list(store.data.values())
    [VelocityBucket(orders=1, amount=20.0, cards=('A',), ship_countries=(), ips=())]
    >>> counters.order_velocity(after, after, OrderMark("o1", t, 20.0, card="A"), origin=None)[0] == v
    True
    """

    store: WindowedStore[VelocityBucket]
    bucket_ms: int
    pending: dict[tuple[str, int], tuple[VelocityBucket, Any]] = field(default_factory=dict)

    def bucket(self, user: str, start_ms: int) -> VelocityBucket | None:
        """The bucket as this batch left it so far."""
        key = (user, start_ms)
        return self.pending[key][0] if key in self.pending else self.store.get(user, start_ms)

    def count(self, user: str, mark: OrderMark, origin: Any) -> None:
        """Add a new order to its bucket (written at :meth:`flush`)."""
        start = bucket_start_ms(mark.ts_ms, self.bucket_ms)
        self.pending[(user, start)] = (add_order(self.bucket(user, start), mark), origin)

    def order_velocity(
        self, before: Profile | None, after: Profile, mark: OrderMark, origin: Any
    ) -> tuple[Velocity, Profile]:
        """The order's velocity (windows ending at its event time, it included) and ``after`` remembering it.

        A new order is counted first; a redelivered one gets the counts of its first delivery.
        """
        new = is_new_order(before, after)
        if not new:
            remembered = remembered_velocity(before, mark)
            if remembered is not None:
                return remembered, after
        else:
            self.count(after.user_id, mark, origin)
        hour, day = read_windows(
            lambda start: self.bucket(after.user_id, start), after.velocity_buckets, mark.ts_ms, self.bucket_ms
        )
        velocity = order_velocity(before, mark, hour, day)
        return velocity, remember_windows(after, mark.order_id, velocity) if new else after

    def flush(self) -> None:
        """Write each bucket the batch changed, once, in the context of the last order that changed it."""
        for (user, start), (bucket, origin) in self.pending.items():
            self.store.put(user, start, bucket, origin)
        self.pending.clear()
