"""Read-only summaries of a profile: RFM, channel mix and favourite categories."""

from __future__ import annotations

from dataclasses import dataclass

from agents.profiles.model import Profile

MS_PER_DAY = 86_400_000


@dataclass(frozen=True, slots=True)
class Rfm:
    """Recency (days since the last order, None before any), frequency (orders) and monetary (total)."""

    recency_days: float | None
    frequency: int
    monetary: float


def rfm(profile: Profile, now_ms: int) -> Rfm:
    """Recency, frequency and monetary value of ``profile`` at ``now_ms``.

    Examples
    --------
    >>> from agents.profiles.model import empty_profile
    >>> from dataclasses import replace
    >>> rfm(replace(empty_profile("u", 0), orders=3, monetary=90.0, last_order_ms=0), 2 * MS_PER_DAY)
    Rfm(recency_days=2.0, frequency=3, monetary=90.0)
    """
    recency = None if profile.last_order_ms is None else max(0, now_ms - profile.last_order_ms) / MS_PER_DAY
    return Rfm(recency_days=recency, frequency=profile.orders, monetary=profile.monetary)


def channel_mix(profile: Profile) -> dict[str, float]:
    """Share of the user's sessions per channel.

    Examples
    --------
    >>> from agents.profiles.model import empty_profile
    >>> from dataclasses import replace
    >>> channel_mix(replace(empty_profile("u", 0), channels={"app": 3, "store": 1}))
    {'app': 0.75, 'store': 0.25}
    """
    total = sum(profile.channels.values())
    return {c: n / total for c, n in profile.channels.items()} if total else {}


def top_categories(profile: Profile, k: int) -> list[str]:
    """The user's ``k`` strongest categories (decay scales all alike, so no clock is needed).

    Examples
    --------
    >>> from agents.profiles.model import empty_profile
    >>> from dataclasses import replace
    >>> top_categories(replace(empty_profile("u", 0), affinity={"toys": 1.0, "books": 3.0, "home": 2.0}), 2)
    ['books', 'home']
    """
    return [c for c, _ in sorted(profile.affinity.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]
