"""The model card stored next to every version's weights (``model_card.json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DataDescription(BaseModel):
    """What the model was trained on."""

    model_config = ConfigDict(frozen=True)

    source: str
    rows: int = Field(ge=0, description="All rows drawn (train + calibration + test).")
    train_rows: int = Field(ge=0)
    calibration_rows: int = Field(ge=0)
    test_rows: int = Field(ge=0)
    positive_rate: float = Field(ge=0, le=1, description="Share of positive labels over all rows.")


class HeldOutMetrics(BaseModel):
    """Metrics of the calibrated model on the held-out test split."""

    model_config = ConfigDict(frozen=True)

    auc: float
    pr_auc: float
    log_loss: float
    ece: float
    base_rate: float
    n: int


class Calibration(BaseModel):
    """Platt scaling applied to the logits: ``sigmoid(logit / temperature + bias)``."""

    model_config = ConfigDict(frozen=True)

    method: Literal["platt", "none"] = "platt"
    temperature: float
    bias: float


class ModelCard(BaseModel):
    """Everything needed to judge one model version without loading it."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: int = Field(ge=0, description="0 until the version directory is written.")
    created_at: datetime
    seed: int
    training_seconds: float = Field(ge=0)
    feature_width: int = Field(ge=1)
    data: DataDescription
    metrics: HeldOutMetrics
    calibration: Calibration
    hyperparameters: dict[str, float | int | str | list[int]] = Field(default_factory=dict)

    def summary(self) -> str:
        """One line of held-out metrics for the CLI."""
        m = self.metrics
        return (
            f"auc={m.auc:.3f} pr_auc={m.pr_auc:.3f} log_loss={m.log_loss:.4f} ece={m.ece:.4f} "
            f"base_rate={m.base_rate:.4f} ({self.training_seconds:.1f} s)"
        )
