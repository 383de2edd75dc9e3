"""The one settings object of streamdecide, read from ``STREAMDECIDE_*`` and ``.env``.

Nothing else in the code base reads ``os.environ`` for configuration: the CLI
builds a :class:`Settings` once and passes it (or a part of it) down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Batching(BaseModel):
    """How agents gather events before one batched inference request.

    Examples
    --------
    >>> Batching().max_size, Batching().window_s
    (256, 0.01)
    """

    model_config = ConfigDict(frozen=True)

    max_size: int = Field(256, ge=1, le=4096, description="Largest micro-batch taken from a stream.")
    window_s: float = Field(0.01, gt=0, le=5, description="Longest wait for a micro-batch to fill.")


class TritonClientSettings(BaseModel):
    """Deadlines and circuit breaker of the shared Triton client."""

    model_config = ConfigDict(frozen=True)

    deadline_s: float = Field(0.5, gt=0, description="Per-request gRPC deadline.")
    breaker_failures: int = Field(3, ge=1, description="Consecutive failures that open the breaker.")
    breaker_reset_s: float = Field(2.0, gt=0, description="Open time before a half-open probe.")


class FraudPolicy(BaseModel):
    """Risk thresholds for the fraud decision (score in 0..1)."""

    model_config = ConfigDict(frozen=True)

    review_at: float = Field(0.3, ge=0, le=1)
    block_at: float = Field(0.8, ge=0, le=1)
    fallback_review_at: float = Field(0.5, ge=0, le=1, description="Rule score above which a degraded decision reviews.")


class BiddingPolicy(BaseModel):
    """How a click probability becomes a bid."""

    model_config = ConfigDict(frozen=True)

    value_per_click_share: float = Field(0.6, gt=0, le=1, description="Share of max_cpc a click is worth to us.")
    shading: float = Field(0.85, gt=0, le=1, description="First-price bid shading factor.")
    max_candidates: int = Field(8, ge=1, le=64, description="Campaigns scored per ad slot.")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="Currency of bids when no campaign bids.")


class PricingPolicy(BaseModel):
    """Guardrails of the pricing decision."""

    model_config = ConfigDict(frozen=True)

    grid_points: int = Field(21, ge=2, le=201, description="Candidate prices between the bounds.")
    max_change: float = Field(0.2, ge=0, le=1, description="Largest relative move away from list price.")
    min_margin: float = Field(0.05, ge=0, le=1, description="Smallest (price - unit_cost) / price accepted.")


class LearningPolicy(BaseModel):
    """Label-join windows and drift detection of the online learners."""

    model_config = ConfigDict(frozen=True)

    click_window_s: float = Field(1800.0, gt=0, description="ad_impression → ad_click attribution window.")
    order_window_s: float = Field(3600.0, gt=0, description="price decision → order window.")
    chargeback_window_s: float = Field(86_400.0, gt=0, description="order → chargeback window.")
    max_pending: int = Field(200_000, ge=1, description="Decisions awaiting an outcome, per model.")
    adwin_delta: float = Field(0.002, gt=0, lt=1, description="ADWIN confidence on loss and label rate.")
    psi_threshold: float = Field(0.25, gt=0, description="Feature PSI that counts as drift.")
    psi_window: int = Field(2000, ge=100, description="Examples per PSI comparison (reference and recent).")
    cooldown: int = Field(5000, ge=0, description="Labelled examples after an alert before the next one.")
    warmup: int = Field(500, ge=0, description="Labelled examples before any alert.")


class Settings(BaseSettings):
    """All configuration, from ``STREAMDECIDE_*`` variables and ``.env``.

    Examples
    --------
    >>> s = Settings(_env_file=None, kafka_bootstrap="127.0.0.1:1")
    >>> s.broker_port, s.triton_grpc_port, s.topic_partitions
    (19092, 18001, 4)
    """

    model_config = SettingsConfigDict(
        env_prefix="STREAMDECIDE_", env_file=".env", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    kafka_bootstrap: str | None = Field(None, description="host:port[,host:port]; unset = start the embedded broker.")
    triton_url: str | None = Field(None, description="Triton gRPC host:port; unset = start the embedded tritonserver.")
    data_dir: Path = Field(Path("./var"), description="Runtime state, logs and the trained model repository.")
    broker_port: int = Field(19092, ge=1, le=65535)
    triton_grpc_port: int = Field(18001, ge=1, le=65535)
    triton_http_port: int = Field(18000, ge=1, le=65535)
    triton_metrics_port: int = Field(18002, ge=1, le=65535)
    metrics_port: int = Field(9464, ge=1, le=65535, description="Worker Prometheus endpoint (127.0.0.1).")

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    pii_key: str = Field("streamdecide-dev-key", min_length=8, description="HMAC key for hashing personal data.")

    app_id: str = Field("streamdecide", description="Faust app id = consumer group of the worker.")
    topic_partitions: int = Field(4, ge=1, le=256)
    topic_replication: int = Field(1, ge=1)
    fetch_max_wait_ms: int = Field(20, ge=1, le=5000, description="Worker consumer's longest fetch wait.")
    max_message_bytes: int = Field(1_000_000, ge=1024, description="Larger input messages go to ops.dlq.")
    model_repository: Path | None = Field(None, description="Triton model repository; default DATA_DIR/model_repository.")
    seed: int = 7
    log_level: Literal["crit", "error", "warn", "info", "debug"] = "warn"

    batching: Batching = Batching()
    triton: TritonClientSettings = TritonClientSettings()
    fraud: FraudPolicy = FraudPolicy()
    bidding: BiddingPolicy = BiddingPolicy()
    pricing: PricingPolicy = PricingPolicy()
    learning: LearningPolicy = LearningPolicy()

    @property
    def repository_dir(self) -> Path:
        """Where trained models live (the Triton ``--model-repository``)."""
        return self.model_repository or self.data_dir / "model_repository"

    @property
    def kafka_url(self) -> str:
        """The Faust broker URL for :attr:`kafka_bootstrap`."""
        if not self.kafka_bootstrap:
            raise ValueError("kafka_bootstrap is not set")
        return ";".join(f"kafka://{h.strip()}" for h in self.kafka_bootstrap.split(","))
