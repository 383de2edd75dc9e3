"""Operational messages: dead letters, drift alerts and model lifecycle events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from schemas.common import Record


class DlqRecord(Record):
    """An input message that could not be decoded or validated, kept whole for replay."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_max_length=None)

    source_topic: str
    partition: int
    offset: int
    key: str | None = Field(None, description="Message key as text (base64 when not UTF-8).")
    payload: str = Field(description="The original message: its text, or base64 when not valid UTF-8.")
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    payload_bytes: int = Field(ge=0, description="Size of the original message.")
    payload_truncated: bool = Field(
        False, description="True when only the first bytes of the message are kept (settings: dlq_payload_max_bytes)."
    )
    error: str = Field(description="Reason code (schemas.reasons.DlqReason), a colon, then the detail.")
    received_at: datetime


class DriftAlert(Record):
    """A drift detector fired for one model."""

    alert_id: str
    model: str
    detector: str
    signal: str
    detected_at: datetime
    n_observations: int = Field(ge=0)
    statistic: float
    details: dict[str, Any] = Field(default_factory=dict)
    change_at: datetime | None = None
    """When the first labelled example of the changed regime arrived (the detector's post-change window).

    A refit trains its *recent* data on examples labelled from here on; everything older is replay."""
    post_change_examples: int | None = Field(None, ge=0)
    """Labelled examples the detector already attributes to the new regime."""


ModelAction = Literal["trained", "loaded", "shadow", "promoted", "rejected", "rolled_back"]


class ModelEvent(Record):
    """One step in a model version's life."""

    model: str
    version: int = Field(ge=1)
    action: ModelAction
    metrics: dict[str, float] = Field(default_factory=dict)
    reason: str | None = None
    at: datetime
