"""Per-partition offset bookkeeping for a reader that must see every record (no I/O).

A Kafka partition's offsets are dense: a reader that asked for offset ``n`` and got
``n + k`` first has skipped ``k`` records. Against Apache Kafka that only happens on
compacted topics, control records or deleted segments; the embedded tansu broker can
answer with later batches while an earlier one is still being written (it reserves
offsets before it stores the batch). :class:`ContiguousOffsets` tells the reader to
fetch such a gap again, and accepts it as a hole only after ``gap_retries`` fetches
skipped the same offsets.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    """What to do with one fetched record."""

    TAKE = "take"
    DUPLICATE = "duplicate"
    """Below the next expected offset: already taken (a re-fetch returns it again)."""
    REFETCH = "refetch"
    """Above the next expected offset: seek back and drop the rest of this partition's batch."""


@dataclass
class ContiguousOffsets:
    """The next expected offset of each partition, and counts of what was skipped.

    Parameters
    ----------
    next_offset
        Partition → first offset to read.
    gap_retries
        Fetches that must skip the same offsets before they count as a hole.

    Examples
    --------
    >>> offsets = ContiguousOffsets({"p0": 0}, gap_retries=2)
    >>> [offsets.accept("p0", o).value for o in (0, 1, 3)]
    ['take', 'take', 'refetch']
    >>> offsets.accept("p0", 1).value, offsets.accept("p0", 2).value, offsets.next_offset["p0"]
    ('duplicate', 'take', 3)
    >>> [offsets.accept("p0", 5).value for _ in range(3)], offsets.holes, offsets.refetches
    (['refetch', 'refetch', 'take'], 2, 3)
    >>> offsets.caught_up({"p0": 6}), offsets.caught_up({"p0": 7}), offsets.caught_up({"p0": None})
    (True, False, False)
    """

    next_offset: dict[Hashable, int]
    gap_retries: int = 5
    refetches: int = 0
    """Gaps fetched again (each one a skip the broker answered with)."""
    holes: int = 0
    """Offsets accepted as never written, after ``gap_retries`` fetches skipped them."""
    _gap: dict[Hashable, tuple[int, int]] = field(default_factory=dict, repr=False)

    def accept(self, partition: Hashable, offset: int) -> Verdict:
        """Classify ``offset`` fetched from ``partition`` and advance when it is taken."""
        expected = self.next_offset[partition]
        if offset < expected:
            return Verdict.DUPLICATE
        if offset > expected:
            seen_at, times = self._gap.get(partition, (expected, 0))
            times = times + 1 if seen_at == expected else 1
            if times <= self.gap_retries:
                self._gap[partition] = (expected, times)
                self.refetches += 1
                return Verdict.REFETCH
            self.holes += offset - expected
        self._gap.pop(partition, None)
        self.next_offset[partition] = offset + 1
        return Verdict.TAKE

    def caught_up(self, ends: Mapping[Hashable, int | None]) -> bool:
        """Whether every partition's next offset reached its end (an unknown end is not reached)."""
        return all((end := ends.get(p)) is not None and n >= end for p, n in self.next_offset.items())
