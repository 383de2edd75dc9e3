"""A circuit breaker: stop calling a failing dependency, probe it now and then, recover by itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class CircuitBreaker:
    """Counts consecutive failures; opens at ``failures_to_open``, probes after ``reset_s``.

    The clock is passed in (``now``), so the breaker is a pure state machine.

    Examples
    --------
    >>> b = CircuitBreaker(failures_to_open=2, reset_s=1.0)
    >>> b.allow(0.0), b.record_failure(0.0), b.record_failure(0.1), b.state
    (True, None, None, 'open')
    >>> b.allow(0.5), b.allow(1.2), b.state
    (False, True, 'half_open')
    >>> b.allow(1.3)
    False
    >>> b.record_success(), b.state
    (None, 'closed')
    """

    failures_to_open: int
    reset_s: float
    state: BreakerState = "closed"
    failures: int = 0
    opened_at: float = 0.0
    transitions: int = field(default=0, repr=False)

    def allow(self, now: float) -> bool:
        """Whether a call may go out now (one probe at a time when half-open)."""
        if self.state == "closed":
            return True
        if self.state == "open" and now - self.opened_at >= self.reset_s:
            self._move("half_open")
            return True
        return False

    def record_success(self) -> None:
        """A call succeeded: close the breaker."""
        self.failures = 0
        if self.state != "closed":
            self._move("closed")

    def record_failure(self, now: float) -> None:
        """A call failed: open after enough consecutive failures, or at once when half-open."""
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.failures_to_open:
            self.opened_at = now
            if self.state != "open":
                self._move("open")

    def _move(self, state: BreakerState) -> None:
        self.state = state
        self.transitions += 1
