"""Traffic scenarios: how the latent truth moves over (virtual) time.

A scenario maps the moment of the stream (virtual seconds elapsed since its start
and the index of the event being produced) to a :class:`Shift` applied by the
generator. ``baseline`` never moves. The drift scenarios switch at an event count:
``ctr-drop`` / ``ctr-surge`` (ads suddenly draw far fewer / more clicks) and ``fraud-wave`` (a new
fraud ring: many more orders from fraudsters, each riskier). A name may carry the
event index of the shift, ``ctr-drop@20000``; without it the shift comes at
:data:`DEFAULT_SHIFT_EVENT`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Shift:
    """Changes to the latent truth at one moment (all neutral by default).

    Attributes
    ----------
    ctr_logit, convert_logit, fraud_logit
        Added to the logit of :func:`~streams.synthetic.world.p_click`, ``p_convert``, ``p_fraud``.
    elasticity_scale
        Multiplies every product's price elasticity.
    fraud_share_scale
        Multiplies the share of orders placed by fraudsters.
    ctr_category
        When set, ``ctr_logit`` applies only to ads of campaigns in this category.
    """

    ctr_logit: float = 0.0
    convert_logit: float = 0.0
    fraud_logit: float = 0.0
    elasticity_scale: float = 1.0
    fraud_share_scale: float = 1.0
    ctr_category: str | None = None

    def ctr_logit_for(self, campaign_category: str) -> float:
        """The click logit shift of an ad of ``campaign_category``.

        Examples
        --------
        >>> s = Shift(ctr_logit=2.0, ctr_category="toys")
        >>> s.ctr_logit_for("toys"), s.ctr_logit_for("books"), Shift(ctr_logit=1.0).ctr_logit_for("books")
        (2.0, 0.0, 1.0)
        """
        return self.ctr_logit if self.ctr_category in (None, campaign_category) else 0.0


NO_SHIFT: Final = Shift()


@dataclass(frozen=True)
class Scenario:
    """A named function from (elapsed virtual seconds, event index) to a :class:`Shift`."""

    name: str
    description: str
    shift_at: Callable[[float, int], Shift]


def _never(elapsed_s: float, index: int) -> Shift:
    return NO_SHIFT


def after_event(name: str, description: str, shift: Shift, at_event: int) -> Scenario:
    """A scenario that applies ``shift`` from event index ``at_event`` on.

    Examples
    --------
    >>> s = after_event("x", "d", Shift(ctr_logit=-1.0), 100)
    >>> s.shift_at(0.0, 99).ctr_logit, s.shift_at(0.0, 100).ctr_logit
    (0.0, -1.0)
    """
    return Scenario(name, description, lambda elapsed_s, index: shift if index >= at_event else NO_SHIFT)


BASELINE: Final = Scenario("baseline", "Stationary traffic calibrated to DESIGN.md §6.", _never)
DEFAULT_SHIFT_EVENT: Final = 20_000
CTR_DROP: Final = Shift(ctr_logit=-1.5)
"""About a 4x drop in click-through: ad fatigue, or a competitor's campaign."""
CTR_SURGE: Final = Shift(ctr_logit=1.5)
"""About 4x the click-through: a viral product, or a placement that suddenly converts attention."""
CTR_ELECTRONICS: Final = Shift(ctr_logit=2.0, ctr_category="electronics")
"""Electronics ads draw about 6x the clicks (a hit gadget); other categories are unchanged, so a refit can
learn it without unlearning the rest."""
FRAUD_WAVE: Final = Shift(fraud_logit=1.5, fraud_share_scale=4.0)
"""A fraud ring: four times the share of fraudsters' orders, each more likely to charge back."""

DRIFTS: Final[dict[str, tuple[str, Shift]]] = {
    "ctr-drop": ("Click-through falls about 4x from the shift event on.", CTR_DROP),
    "ctr-surge": ("Click-through rises about 4x from the shift event on.", CTR_SURGE),
    "ctr-electronics": (
        "Click-through on electronics ads rises about 6x from the shift event on; other ads unchanged.",
        CTR_ELECTRONICS,
    ),
    "fraud-wave": ("A fraud ring appears at the shift event: 4x the fraudsters, each riskier.", FRAUD_WAVE),
}

SCENARIOS: dict[str, Scenario] = {BASELINE.name: BASELINE} | {
    name: after_event(name, description, shift, DEFAULT_SHIFT_EVENT) for name, (description, shift) in DRIFTS.items()
}
"""Known scenarios by name (drift scenarios at their default shift event)."""


def resolve_scenario(name: str | None) -> Scenario:
    """The scenario called ``name`` (``None`` means ``baseline``); ``drift@N`` shifts at event N.

    Raises
    ------
    ValueError
        For an unknown name (listing the known ones) or a bad event index.

    Examples
    --------
    >>> resolve_scenario(None).name
    'baseline'
    >>> resolve_scenario("ctr-drop@500").shift_at(0.0, 500).ctr_logit
    -1.5
    >>> resolve_scenario("mars")
    Traceback (most recent call last):
    ...
    ValueError: unknown scenario 'mars'; known: baseline, ctr-drop, ctr-electronics, ctr-surge, fraud-wave (drift ones take @EVENT_INDEX)
    >>> resolve_scenario("fraud-wave@soon")
    Traceback (most recent call last):
    ...
    ValueError: scenario 'fraud-wave@soon': the shift event must be a whole number >= 0
    """
    if name is None:
        return BASELINE
    base, _, at = name.partition("@")
    if at and base in DRIFTS:
        if not at.isdigit():
            raise ValueError(f"scenario {name!r}: the shift event must be a whole number >= 0")
        description, shift = DRIFTS[base]
        return after_event(name, description, shift, int(at))
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise ValueError(f"unknown scenario {name!r}; known: {known} (drift ones take @EVENT_INDEX)") from None
