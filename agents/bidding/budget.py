"""Daily spend per campaign, fed by ``ad_impression`` win notices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class BudgetBook:
    """Money spent today per campaign (clearing price of each won impression).

    Examples
    --------
    >>> book = BudgetBook()
    >>> book.record_win("c1", clearing_cpm=2000.0, day=date(2026, 1, 1))
    >>> book.spent("c1", date(2026, 1, 1)), book.spent("c1", date(2026, 1, 2))
    (2.0, 0.0)
    """

    _spent: dict[tuple[str, date], float] = field(default_factory=dict)

    def record_win(self, campaign_id: str, clearing_cpm: float, day: date) -> None:
        """Add the cost of one impression (CPM / 1000)."""
        key = (campaign_id, day)
        self._spent[key] = self._spent.get(key, 0.0) + clearing_cpm / 1000.0

    def spent(self, campaign_id: str, day: date) -> float:
        """Spend of ``campaign_id`` on ``day``."""
        return self._spent.get((campaign_id, day), 0.0)
