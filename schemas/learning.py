"""Labelled examples published to ``ops.labelled``: a decision joined with its outcome.

The worker publishes one per resolved decision; the example store keeps them for
refits and the rollout reads the shadow scores of a candidate version from them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas.common import Id, Probability, Record


def version_number(model_version: str | None) -> int | None:
    """The number in a served version label (``"ctr:2"`` or ``"2"``), ``None`` if there is none.

    Examples
    --------
    >>> version_number("ctr:2"), version_number("3"), version_number(None), version_number("ctr:")
    (2, 3, None, None)
    """
    if not model_version:
        return None
    text = model_version.rsplit(":", 1)[-1].strip()
    return int(text) if text.isdigit() else None


class LabelledExample(Record):
    """What a model saw and said about one decision, what happened, and a candidate's shadow score.

    Examples
    --------
    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> e = LabelledExample(model="ctr", decision_id="bid-1", features=[0.5, 1.0], score=0.02, model_version="ctr:1",
    ...                     label=False, decided_at=t, labelled_at=t, shadow_score=0.01, shadow_version="ctr:2")
    >>> e.live_version, e.candidate_version
    (1, 2)
    """

    model: str = Field(min_length=1, max_length=64)
    decision_id: Id
    features: list[float] = Field(min_length=1, max_length=1024)
    score: Probability = Field(description="The live model's probability when it decided.")
    model_version: str = Field(description="Served version that scored it, e.g. 'ctr:1'.")
    label: bool
    decided_at: datetime
    labelled_at: datetime
    shadow_score: Probability | None = Field(None, description="The shadow candidate's probability for the same row.")
    shadow_version: str | None = Field(None, description="Version of the shadow candidate, e.g. 'ctr:2'.")

    @property
    def live_version(self) -> int | None:
        """Number of the version that decided."""
        return version_number(self.model_version)

    @property
    def candidate_version(self) -> int | None:
        """Number of the shadow candidate, ``None`` when there was none."""
        return version_number(self.shadow_version) if self.shadow_score is not None else None
