"""Daily spend per campaign, fed by ``ad_impression`` win notices, plus the bids still awaiting theirs.

Spend is kept per (UTC day, input partition, campaign): win notices are keyed by
``user_id`` like the bid they answer, so each partition's spend is written by the
one worker that owns it, and a durable table can hold it. A bid reserves its
amount until its win notice (which turns it into spend) or a timeout, so spend
never runs past the budget by more than a late notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from agents.tables import KeyedStore, MemoryStore

CPM_PER_UNIT = 1000.0
MONEY_DECIMALS = 9
"""Spend is rounded this finely, so sums of many small amounts stay exact enough to compare."""
SPEND_KEYS_CACHED = 65_536
"""Spend keys kept formatted: campaigns × partitions × the days in flight, with room to spare."""


def utc_day(ts: datetime) -> date:
    """The UTC day budgets count ``ts`` in.

    Examples
    --------
    >>> from datetime import timedelta, timezone
    >>> utc_day(datetime(2026, 1, 1, 23, tzinfo=timezone(timedelta(hours=-5))))
    datetime.date(2026, 1, 2)
    """
    return ts.astimezone(UTC).date()


@lru_cache(maxsize=SPEND_KEYS_CACHED)
def spend_key(campaign_id: str, day: date, partition: int) -> str:
    """The spend table's key (cached: a slot's bid asks for it about nine times, once per candidate and check).

    Examples
    --------
    >>> spend_key("c1", date(2026, 1, 2), 3)
    '2026-01-02|3|c1'
    """
    return f"{day.isoformat()}|{partition}|{campaign_id}"


@dataclass(frozen=True)
class Reservation:
    """A bid that may still win: its amount counts against the budget until settled."""

    key: str
    amount: float
    ts_ms: int


@dataclass
class BudgetBook:
    """Spend (durable, in ``spend``) and reservations (in memory) per campaign, day and partition.

    Examples
    --------
    >>> book = BudgetBook()
    >>> book.record_win("c1", clearing_cpm=2000.0, day=date(2026, 1, 1))
    >>> book.spent("c1", date(2026, 1, 1)), book.spent("c1", date(2026, 1, 2))
    (2.0, 0.0)
    >>> book.reserve("bid-1", "c1", 0.5, date(2026, 1, 1), partition=0, ts_ms=0)
    >>> book.committed("c1", date(2026, 1, 1)), book.committed("c1", date(2026, 1, 1), excluding="bid-1")
    (2.5, 2.0)
    >>> book.record_win("c1", clearing_cpm=300.0, day=date(2026, 1, 1), decision_id="bid-1")
    >>> book.committed("c1", date(2026, 1, 1))
    2.3
    """

    spend: KeyedStore[float] = field(default_factory=MemoryStore)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    _reserved: dict[str, float] = field(default_factory=dict)
    _committed: dict[str, float] = field(default_factory=dict)
    """Spend plus reservations per spend key as last computed; a write through this book drops its key."""

    def forget_committed(self) -> None:
        """Drop every cached committed amount (once per micro-batch: the spend table may have been recovered since)."""
        self._committed.clear()

    def _committed_at(self, key: str) -> float:
        value = self._committed.get(key)
        if value is None:
            reserved = self._reserved.get(key, 0.0)
            value = round((self.spend.get(key) or 0.0) + (reserved if reserved > 0.0 else 0.0), MONEY_DECIMALS)
            self._committed[key] = value
        return value

    def spent(self, campaign_id: str, day: date, partition: int = 0) -> float:
        """Money spent (won impressions) by ``campaign_id`` on ``day`` in ``partition``."""
        return self.spend.get(spend_key(campaign_id, day, partition)) or 0.0

    def committed(self, campaign_id: str, day: date, partition: int = 0, excluding: str | None = None) -> float:
        """Spend plus open reservations, leaving out the reservation of decision ``excluding``."""
        key = spend_key(campaign_id, day, partition)
        own = self.reservations.get(excluding) if excluding else None
        if own is None or own.key != key:
            return self._committed_at(key)
        reserved = self._reserved.get(key, 0.0) - own.amount
        return round((self.spend.get(key) or 0.0) + max(0.0, reserved), MONEY_DECIMALS)

    def committed_many(
        self, campaign_ids: Sequence[str], day: date, partition: int = 0, excluding: str | None = None
    ) -> list[float]:
        """:meth:`committed` of each of ``campaign_ids`` (one slot's candidates: the own reservation looked up once)."""
        own = self.reservations.get(excluding) if excluding else None
        if own is None:
            return [self._committed_at(spend_key(campaign_id, day, partition)) for campaign_id in campaign_ids]
        return [self.committed(campaign_id, day, partition, excluding) for campaign_id in campaign_ids]

    def record_win(
        self,
        campaign_id: str,
        clearing_cpm: float,
        day: date,
        *,
        partition: int = 0,
        decision_id: str | None = None,
        origin: Any = None,
    ) -> None:
        """Add the cost of one won impression (CPM / 1000) and settle the bid's reservation."""
        if decision_id is not None:
            self.release(decision_id)
        key = spend_key(campaign_id, day, partition)
        spent = (self.spend.get(key) or 0.0) + clearing_cpm / CPM_PER_UNIT
        self.spend.put(key, round(spent, MONEY_DECIMALS), origin)
        self._committed.pop(key, None)

    def reserve(
        self, decision_id: str, campaign_id: str, amount: float, day: date, *, partition: int, ts_ms: int
    ) -> None:
        """Hold ``amount`` for a bid until its win notice or expiry (a repeated decision replaces its own)."""
        self.release(decision_id)
        key = spend_key(campaign_id, day, partition)
        self.reservations[decision_id] = Reservation(key, amount, ts_ms)
        self._reserved[key] = self._reserved.get(key, 0.0) + amount
        self._committed.pop(key, None)

    def release(self, decision_id: str) -> None:
        """Drop the reservation of ``decision_id`` (if any)."""
        reservation = self.reservations.pop(decision_id, None)
        if reservation is None:
            return
        left = self._reserved.get(reservation.key, 0.0) - reservation.amount
        if left > 0:
            self._reserved[reservation.key] = left
        else:
            self._reserved.pop(reservation.key, None)
        self._committed.pop(reservation.key, None)

    def expire(self, now_ms: int, timeout_ms: int) -> int:
        """Release reservations older than ``timeout_ms`` at ``now_ms``; returns how many.

        Examples
        --------
        >>> book = BudgetBook()
        >>> book.reserve("b1", "c", 1.0, date(2026, 1, 1), partition=0, ts_ms=0)
        >>> book.expire(now_ms=5, timeout_ms=10), book.expire(now_ms=11, timeout_ms=10), book.reservations
        (0, 1, {})
        """
        stale = []
        for decision_id, reservation in self.reservations.items():
            if now_ms - reservation.ts_ms <= timeout_ms:
                break  # insertion order is (about) time order: the rest are younger
            stale.append(decision_id)
        for decision_id in stale:
            self.release(decision_id)
        return len(stale)
