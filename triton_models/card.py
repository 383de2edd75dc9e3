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
    positive_rate: float | None = Field(
        None, ge=0, le=1, description="Share of positive labels over all rows (none for a multi-class model)."
    )


class HeldOutMetrics(BaseModel):
    """Metrics of the calibrated model on the held-out test split."""

    model_config = ConfigDict(frozen=True)

    auc: float
    pr_auc: float
    log_loss: float
    ece: float
    base_rate: float
    n: int


class IntentMetrics(HeldOutMetrics):
    """Held-out metrics of ``query_intent`` (multi-class): the binary ones, one-vs-rest, plus accuracies.

    ``auc`` and ``pr_auc`` are macro one-vs-rest averages, ``log_loss`` the multi-class
    cross-entropy, ``ece`` that of the top-class confidence, ``base_rate`` the share of the
    most frequent category.
    """

    accuracy: float
    accuracy_by_language: dict[str, float] = Field(description="Category accuracy on the held-out templates.")
    language_accuracy: float = Field(description="Share of held-out queries whose language was detected right.")
    language_accuracy_by_language: dict[str, float]
    generator_accuracy_by_language: dict[str, float] = Field(
        description="Category accuracy on queries shaped like the synthetic traffic's."
    )


class OrangeJuiceElasticity(BaseModel):
    """Own-price elasticity of demand estimated on the orangeJuice store-level panel (bayesm)."""

    model_config = ConfigDict(frozen=True)

    elasticity: float = Field(description="d log(units) / d log(price).")
    std_error: float = Field(description="Standard error, clustered by store.")
    rows: int
    stores: int
    brands: int
    weeks: int
    method: str
    source: str


class PriceResponse(BaseModel):
    """How the conversion model answers price: its learned elasticity and where its prior came from."""

    model_config = ConfigDict(frozen=True)

    elasticity: float = Field(description="Mean d log p(purchase) / d log price over held-out rows.")
    elasticity_by_category: dict[str, float]
    world_elasticity: float = Field(description="The synthetic world's true mean elasticity, for comparison.")
    prior: OrangeJuiceElasticity | None = Field(None, description="The real-data estimate the fit was pulled to.")
    prior_weight: float = 0.0


class Calibration(BaseModel):
    """Scaling of the logits: Platt ``sigmoid(logit / temperature + bias)``, or ``softmax(logits / temperature)``."""

    model_config = ConfigDict(frozen=True)

    method: Literal["platt", "temperature", "inherited", "none"] = Field(
        default="platt", description="How it was fitted; inherited: a refit kept the live version's scaling."
    )
    temperature: float
    bias: float
    segment_offsets: dict[str, float] = Field(
        default_factory=dict, description="Logit offset per segment a refit added (none: no correction)."
    )


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
    metrics: IntentMetrics | HeldOutMetrics
    calibration: Calibration
    hyperparameters: dict[str, float | int | str | list[int]] = Field(default_factory=dict)
    price_response: PriceResponse | None = None

    def summary(self) -> str:
        """One line of held-out metrics for the CLI."""
        m = self.metrics
        line = (
            f"auc={m.auc:.3f} pr_auc={m.pr_auc:.3f} log_loss={m.log_loss:.4f} ece={m.ece:.4f} "
            f"base_rate={m.base_rate:.4f}"
        )
        if isinstance(m, IntentMetrics):
            line += " accuracy " + " ".join(f"{k}={v:.3f}" for k, v in m.accuracy_by_language.items())
        if self.price_response is not None:
            line += f" elasticity={self.price_response.elasticity:.2f}"
        return f"{line} ({self.training_seconds:.1f} s)"
