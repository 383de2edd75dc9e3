"""Traffic scenarios: how the latent truth moves over (virtual) time.

A scenario maps the seconds elapsed since the stream's start to a :class:`Shift`
applied by the generator. ``baseline`` never moves; drift scenarios are added to
:data:`SCENARIOS` with their own ``shift_at``.
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
    """

    ctr_logit: float = 0.0
    convert_logit: float = 0.0
    fraud_logit: float = 0.0
    elasticity_scale: float = 1.0
    fraud_share_scale: float = 1.0


NO_SHIFT: Final = Shift()


@dataclass(frozen=True)
class Scenario:
    """A named function from elapsed virtual seconds to a :class:`Shift`."""

    name: str
    description: str
    shift_at: Callable[[float], Shift]


def _never(elapsed_s: float) -> Shift:
    return NO_SHIFT


BASELINE: Final = Scenario("baseline", "Stationary traffic calibrated to DESIGN.md §6.", _never)

SCENARIOS: dict[str, Scenario] = {BASELINE.name: BASELINE}
"""Known scenarios by name."""


def resolve_scenario(name: str | None) -> Scenario:
    """The scenario called ``name`` (``None`` means ``baseline``).

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.

    Examples
    --------
    >>> resolve_scenario(None).name
    'baseline'
    >>> resolve_scenario("mars")
    Traceback (most recent call last):
    ...
    ValueError: unknown scenario 'mars'; known: baseline
    """
    if name is None:
        return BASELINE
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}") from None
