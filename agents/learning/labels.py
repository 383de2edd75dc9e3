"""Join decisions with their later outcomes into labelled examples, within a window.

``ctr``: a won impression (``ad_impression``) is positive when its ``ad_click``
arrives within the window, negative when the window passes. ``conversion``: a
price decision is positive when that user orders that product within the window.
``fraud``: an order is positive when a ``chargeback`` for it arrives within the
window. Pending decisions are bounded: past ``max_pending`` the oldest resolves
as negative (it is the closest to its deadline).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Verdict:
    """Which decision, the live version that scored it, and a shadow candidate's score when one ran."""

    decision_id: str = ""
    model_version: str = ""
    shadow_score: float | None = None
    shadow_version: str | None = None


NO_VERDICT = Verdict()


@dataclass(frozen=True)
class Labelled:
    """One joined example: what the model saw, what it said, what happened."""

    model: str
    key: str
    features: tuple[float, ...]
    score: float
    label: bool
    decided_at: datetime
    verdict: Verdict = NO_VERDICT


@dataclass(frozen=True)
class _Pending:
    features: tuple[float, ...]
    score: float
    decided_at: datetime
    verdict: Verdict = NO_VERDICT


class LabelJoiner:
    """Decisions awaiting an outcome for one model.

    Examples
    --------
    >>> from datetime import UTC
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> joiner = LabelJoiner("ctr", window_s=60, max_pending=10)
    >>> joiner.expect("d1", [0.1], 0.02, t0) + joiner.expect("d2", [0.2], 0.03, t0)
    []
    >>> joiner.resolve("d1", t0 + timedelta(seconds=5)).label
    True
    >>> joiner.resolve("d1", t0 + timedelta(seconds=6)) is None
    True
    >>> [(e.key, e.label) for e in joiner.expire(t0 + timedelta(seconds=61))]
    [('d2', False)]
    """

    def __init__(self, model: str, window_s: float, max_pending: int) -> None:
        self.model = model
        self.window = timedelta(seconds=window_s)
        self.max_pending = max_pending
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._pending)

    def expect(
        self,
        key: str,
        features: list[float] | tuple[float, ...],
        score: float,
        at: datetime,
        verdict: Verdict = NO_VERDICT,
    ) -> list[Labelled]:
        """Start waiting for ``key``'s outcome; returns negatives evicted to stay bounded."""
        if key in self._pending:
            return []
        self._pending[key] = _Pending(tuple(features), float(score), at, verdict)
        evicted = []
        while len(self._pending) > self.max_pending:
            old_key, old = self._pending.popitem(last=False)
            evicted.append(Labelled(self.model, old_key, old.features, old.score, False, old.decided_at, old.verdict))
            self.evicted += 1
        return evicted

    def resolve(self, key: str, at: datetime) -> Labelled | None:
        """The positive outcome for ``key`` arrived at ``at`` (None if unknown, earlier than the decision, or too late)."""
        pending = self._pending.get(key)
        if pending is None or at < pending.decided_at or at - pending.decided_at > self.window:
            return None
        del self._pending[key]
        return Labelled(self.model, key, pending.features, pending.score, True, pending.decided_at, pending.verdict)

    def expire(self, now: datetime) -> list[Labelled]:
        """Negatives whose window has passed by ``now`` (oldest first)."""
        out = []
        while self._pending:
            key, pending = next(iter(self._pending.items()))
            if now - pending.decided_at <= self.window:
                break
            del self._pending[key]
            out.append(Labelled(self.model, key, pending.features, pending.score, False, pending.decided_at, pending.verdict))
        return out
