"""The one settings object of streamdecide, read from ``STREAMDECIDE_*`` and ``.env``.

Nothing else in the code base reads ``os.environ`` for configuration: the CLI
builds a :class:`Settings` once and passes it (or a part of it) down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.reasons import Reason
from streams.cpu_affinity import format_cpulist, parse_cpulist
from streams.event_loop import EventLoopKind


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
    buffer_max: int = Field(
        16_384, ge=1, le=100_000,
        description="Records Faust buffers per input stream; from four fifths of it on the consumer stops fetching "
        "the stream's partitions (backpressure). A consumer poll hands over at most a fifth of it divided by "
        "TOPIC_PARTITIONS, so one full stream never holds back the others.",
    )  # fmt: skip
    read_ahead: int = Field(
        256, ge=0, le=100_000,
        description="Events an agent keeps reading for its next micro-batch while it decides one (0: it stops "
        "reading, as Faust's take_events does).",
    )  # fmt: skip


class GcPolicy(BaseModel):
    """How the worker processes use Python's cyclic garbage collector.

    Deciding allocates many short-lived objects; with Python's default (a collection of
    the youngest generation every 700 net allocations) and every start-up object
    (imports, the app, the catalog) scanned by each full collection, the collector took
    about a fifth of the pure decision path's CPU per event and paused a busy worker for
    up to 280 ms at a time (see BENCHMARKS.md).

    Examples
    --------
    >>> GcPolicy().young_threshold, GcPolicy().freeze_after_start
    (10000, True)
    """

    model_config = ConfigDict(frozen=True)

    young_threshold: int = Field(
        10_000, ge=100, le=1_000_000,
        description="Net allocations between collections of the youngest generation (Python's default: 700).",
    )  # fmt: skip
    freeze_after_start: bool = Field(
        True, description="Move the objects alive once the worker is ready out of the collector's sight (gc.freeze).",
    )  # fmt: skip


class TritonClientSettings(BaseModel):
    """Deadlines and circuit breaker of the shared Triton client."""

    model_config = ConfigDict(frozen=True)

    deadline_s: float = Field(0.5, gt=0, description="Per-request gRPC deadline.")
    breaker_failures: int = Field(3, ge=1, description="Consecutive failures that open the breaker.")
    breaker_reset_s: float = Field(2.0, gt=0, description="Open time before a half-open probe.")
    reconnect_backoff_max_s: float = Field(
        1.0, gt=0, le=120,
        description="Longest gRPC reconnect backoff (gRPC's own default, 120 s, would delay recovery after an outage).",
    )  # fmt: skip
    tls: bool = Field(False, description="Connect to Triton's gRPC endpoint over TLS.")
    tls_cafile: Path | None = Field(None, description="PEM root certificates for TLS (default: the system's).")
    tls_certfile: Path | None = Field(None, description="PEM client certificate chain (mutual TLS).")
    tls_keyfile: Path | None = Field(None, description="PEM client private key (mutual TLS).")

    @model_validator(mode="after")
    def _tls_files_need_tls(self) -> "TritonClientSettings":
        if not self.tls and (self.tls_cafile or self.tls_certfile or self.tls_keyfile):
            raise ValueError("triton tls_* files are set but tls is false")
        if bool(self.tls_certfile) != bool(self.tls_keyfile):
            raise ValueError("triton mutual TLS needs both tls_certfile and tls_keyfile")
        return self


class IntentPolicy(BaseModel):
    """How search queries are classified by the served ``query_intent`` model."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = Field(True, description="Classify search queries (off: bids carry no query_category/language).")
    deadline_s: float = Field(2.0, gt=0, description="gRPC deadline of one query_intent request (a text model is slower).")
    cache_size: int = Field(50_000, ge=0, description="Normalised queries whose intent is kept (LRU); 0 = no cache.")
    request_queries: int = Field(
        32, ge=1, le=256, description="Most queries per query_intent request (queued misses wait for the next one)."
    )
    max_queued: int = Field(
        512, ge=1, le=100_000,
        description="Most queries waiting for a query_intent request; beyond it a miss is answered unavailable at once "
        "(overload sheds the text model, not the bids).",
    )  # fmt: skip
    bid_reserve_ms: float = Field(
        15.0, ge=0, le=10_000,
        description="Time a search bid needs after its query intent is known (scoring, sending): search bids wait "
        "for the intent only until their slot's tmax_ms less this, then bid without it (intent_late).",
    )  # fmt: skip
    min_confidence: float = Field(
        0.5, ge=0, le=1, description="Below this category probability a search targets no category."
    )


class FraudThresholds(BaseModel):
    """Risk scores (0..1) at which an order is reviewed and blocked.

    Examples
    --------
    >>> FraudThresholds(review_at=0.2, block_at=0.7).block_at
    0.7
    >>> FraudThresholds(review_at=0.9, block_at=0.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for FraudThresholds
      Value error, need review_at <= block_at ...
    """

    model_config = ConfigDict(frozen=True)

    review_at: float = Field(0.3, ge=0, le=1)
    block_at: float = Field(0.8, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "FraudThresholds":
        if self.review_at > self.block_at:
            raise ValueError("need review_at <= block_at")
        return self


DEFAULT_RULE_WEIGHTS: dict[str, float] = {
    Reason.VELOCITY_ORDERS_1H.value: 0.5,
    Reason.VELOCITY_ORDERS_24H.value: 0.3,
    Reason.VELOCITY_CARDS_24H.value: 0.5,
    Reason.VELOCITY_COUNTRIES_24H.value: 0.4,
    Reason.VELOCITY_AMOUNT_24H.value: 0.3,
    Reason.AMOUNT_SPIKE.value: 0.3,
    Reason.NEW_CARD.value: 0.15,
    Reason.PRIOR_CHARGEBACK.value: 0.5,
    Reason.NEW_ACCOUNT_HIGH_AMOUNT.value: 0.25,
    Reason.COUNTRY_MISMATCH.value: 0.1,
    Reason.NO_CARD_HASH.value: 0.1,
    Reason.HIGH_AMOUNT.value: 0.1,
}
"""Weight of each rule: the rules combine with the model's score by noisy-OR."""


class FraudPolicy(BaseModel):
    """Risk thresholds, velocity rules and explanations of the fraud decision (scores in 0..1)."""

    model_config = ConfigDict(frozen=True)

    review_at: float = Field(0.3, ge=0, le=1)
    block_at: float = Field(0.8, ge=0, le=1)
    fallback_review_at: float = Field(0.5, ge=0, le=1, description="Rule score above which a degraded decision reviews.")
    by_channel: dict[str, FraudThresholds] = Field(
        default_factory=lambda: {
            "store": FraudThresholds(review_at=0.5, block_at=0.95),
            "partner": FraudThresholds(review_at=0.2, block_at=0.7),
        },
        description="Thresholds per channel; they win over the scene's and the defaults above.",
    )
    new_account_days: int = Field(1, ge=0, description="Accounts younger than this are new.")
    new_account_amount: float = Field(250.0, ge=0, description="Amount from which a new account's order is flagged.")
    high_amount: float = Field(1000.0, gt=0, description="Amount from which any order is flagged.")
    amount_spike_ratio: float = Field(10.0, gt=1, description="Flag orders this many times the user's usual amount.")
    amount_spike_min_orders: int = Field(2, ge=1, description="Prior orders needed to know a usual amount.")
    max_orders_1h: int = Field(4, ge=1, description="More orders than this in one hour are flagged.")
    max_orders_24h: int = Field(10, ge=1, description="More orders than this in 24 hours are flagged.")
    max_cards_24h: int = Field(2, ge=1, description="More distinct cards than this in 24 hours are flagged.")
    max_ship_countries_24h: int = Field(2, ge=1, description="More shipping countries than this in 24 h are flagged.")
    max_amount_24h: float = Field(3000.0, gt=0, description="A larger order total in 24 hours is flagged.")
    rule_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_RULE_WEIGHTS),
        description="Weight (0..1) of each rule's reason code in the noisy-OR with the model's score.",
    )
    explain_top_k: int = Field(2, ge=0, le=8, description="Model features named in reasons (0: no explanation rows).")
    explain_min_contribution: float = Field(0.01, ge=0, le=1, description="Smallest risk a named feature must add.")
    reference_amount: float = Field(50.0, gt=0, description="Amount of the benign reference order (no history).")
    reference_account_age_days: int = Field(365, ge=1, description="Account age of the benign reference order.")

    @field_validator("rule_weights")
    @classmethod
    def _known_rules(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - {r.value for r in Reason})
        if unknown:
            raise ValueError(f"unknown rule codes {unknown}")
        if any(not 0 <= w <= 1 for w in weights.values()):
            raise ValueError("rule weights must lie in 0..1")
        return weights

    @property
    def thresholds(self) -> FraudThresholds:
        """The default thresholds (``review_at``, ``block_at``)."""
        return FraudThresholds(review_at=self.review_at, block_at=self.block_at)


class BiddingPolicy(BaseModel):
    """How a click probability becomes a bid, and how budgets are paced."""

    model_config = ConfigDict(frozen=True)

    value_per_click_share: float = Field(0.6, gt=0, le=1, description="Share of max_cpc a click is worth to us.")
    shading: float = Field(0.85, gt=0, le=1, description="First-price bid shading factor.")
    max_candidates: int = Field(8, ge=1, le=64, description="Campaigns scored per ad slot.")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="Currency of bids when no campaign bids.")
    match_context_category: bool = Field(
        True, description="When the slot's category is known, only campaigns of that category may bid."
    )
    budget_split: Literal["partition", "none"] = Field(
        "partition", description="'partition': each input partition may spend daily_budget / topic_partitions."
    )
    pacing: bool = Field(True, description="Spread each budget over the (UTC) day.")
    pacing_slack: float = Field(
        0.05, gt=0, le=1, description="How far (share of the budget) spend may run ahead of the day's schedule."
    )
    win_notice_timeout_s: float = Field(
        120.0, gt=0, description="A bid holds its amount against the budget until its win notice or this timeout."
    )


ArmStrategy = Literal["optimise", "thompson", "list_price"]


class ExperimentArm(BaseModel):
    """One arm of the pricing experiment: its name, how it prices, and its share of users."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=64)
    strategy: ArmStrategy
    share: float = Field(gt=0, le=1)


class PricingExperiment(BaseModel):
    """The A/B layer over pricing: stable arms by hashed ``user_id``, Thompson sampling inside an arm.

    Examples
    --------
    >>> [(a.name, a.share) for a in PricingExperiment().arms]
    [('model', 0.8), ('list_price', 0.2)]
    >>> PricingExperiment(arms=[ExperimentArm(name="a", strategy="optimise", share=0.5)])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for PricingExperiment
      Value error, arm shares sum to 0.5, need 1 ...
    """

    model_config = ConfigDict(frozen=True)

    enabled: bool = Field(True, description="False: every view gets the optimise strategy, no experiment logged.")
    name: str = Field("price-2026a", min_length=1, max_length=64, description="Also salts the user hash.")
    arms: tuple[ExperimentArm, ...] = Field(
        (
            ExperimentArm(name="model", strategy="thompson", share=0.8),
            ExperimentArm(name="list_price", strategy="list_price", share=0.2),
        ),
        description="Arms with strategy (optimise, thompson, list_price) and share of users; shares sum to 1.",
    )
    prior_strength: float = Field(
        20_000.0, gt=0, description="Pseudo-views behind the model's p_convert at each price (lower: more exploration)."
    )
    propensity_draws: int = Field(
        128, ge=16, le=10_000, description="Posterior draws estimating a sampled price's probability."
    )
    exposure_window_s: float = Field(
        3600.0, gt=0, description="An order this soon after a price view counts as its conversion."
    )

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> "PricingExperiment":
        total = sum(a.share for a in self.arms)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"arm shares sum to {total:g}, need 1")
        if len({a.name for a in self.arms}) != len(self.arms):
            raise ValueError("arm names must be unique")
        return self


class PricingPolicy(BaseModel):
    """Guardrails of the pricing decision."""

    model_config = ConfigDict(frozen=True)

    grid_points: int = Field(21, ge=2, le=201, description="Candidate prices between the bounds.")
    max_change: float = Field(0.2, ge=0, le=1, description="Largest relative move away from list price.")
    min_margin: float = Field(0.05, ge=0, le=1, description="Smallest (price - unit_cost) / price accepted.")
    experiment: PricingExperiment = PricingExperiment()


class ProfilePolicy(BaseModel):
    """How omni-channel profiles remember a user."""

    model_config = ConfigDict(frozen=True)

    affinity_half_life_h: float = Field(72.0, gt=0, description="Category affinity halves after this many hours.")
    view_weight: float = Field(1.0, ge=0, description="Affinity added by a product or category view.")
    search_weight: float = Field(1.0, ge=0, description="Affinity added by a search of a known category.")
    cart_weight: float = Field(3.0, ge=0, description="Affinity added by an add-to-cart.")
    order_weight: float = Field(5.0, ge=0, description="Affinity added per ordered line.")
    session_timeout_s: float = Field(1800.0, gt=0, description="Inactivity after which a session without id ends.")
    history_max_orders: int = Field(20, ge=1, le=500, description="Recent orders kept for velocity and usual amount.")
    max_known_cards: int = Field(20, ge=1, le=500, description="Cards (keyed hashes) remembered per user.")
    velocity_bucket_s: int = Field(
        300, ge=1, le=3600,
        description="Bucket of the windowed velocity table; 1 h / 24 h counts may include up to one bucket more.",
    )  # fmt: skip
    velocity_expires_s: int = Field(
        90_000, ge=86_401, description="Wall-clock age after which velocity buckets expire (over 24 h + one bucket)."
    )

    @model_validator(mode="after")
    def _velocity_outlives_a_day(self) -> "ProfilePolicy":
        if self.velocity_expires_s < 86_400 + self.velocity_bucket_s:
            raise ValueError("velocity_expires_s must exceed 24 h plus one velocity bucket")
        return self


class SceneRoute(BaseModel):
    """What one scene changes: fraud thresholds, bid shading, and the served model per family."""

    model_config = ConfigDict(frozen=True)

    fraud: FraudThresholds | None = Field(None, description="None: the fraud policy's defaults.")
    bid_shading: float | None = Field(None, gt=0, le=1, description="None: the bidding policy's shading.")
    ctr_model: str = Field("ctr", min_length=1, description="Served model scoring this scene's ad slots.")
    conversion_model: str = Field("conversion", min_length=1, description="Served model scoring this scene's prices.")
    fraud_model: str = Field("fraud", min_length=1, description="Served model scoring this scene's orders.")


class SceneRoutes(BaseModel):
    """The routing table: one :class:`SceneRoute` per scene.

    Examples
    --------
    >>> SceneRoutes().route("checkout").fraud_model
    'fraud'
    """

    model_config = ConfigDict(frozen=True)

    search: SceneRoute = SceneRoute()
    browse: SceneRoute = SceneRoute()
    product: SceneRoute = SceneRoute()
    cart: SceneRoute = SceneRoute()
    checkout: SceneRoute = SceneRoute()
    post_purchase: SceneRoute = SceneRoute()

    def route(self, scene: str) -> SceneRoute:
        """The route of ``scene``."""
        return getattr(self, scene)


class LearningPolicy(BaseModel):
    """Label-join windows and drift detection of the online learners."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = Field(True, description="Join labels, learn online, watch drift (off: decisions only).")
    click_window_s: float = Field(1800.0, gt=0, description="ad_impression → ad_click attribution window.")
    order_window_s: float = Field(3600.0, gt=0, description="price decision → order window.")
    chargeback_window_s: float = Field(86_400.0, gt=0, description="order → chargeback window.")
    max_pending: int = Field(200_000, ge=1, description="Decisions awaiting an outcome, per model.")
    adwin_delta: float = Field(
        1e-3, gt=0, lt=1, description="ADWIN confidence on loss and label rate (smaller: fewer false alarms, later alerts)."
    )
    psi_threshold: float = Field(0.25, gt=0, description="Feature PSI that counts as drift.")
    psi_window: int = Field(2000, ge=100, description="Examples per PSI comparison (reference and recent).")
    cooldown: int = Field(5000, ge=0, description="Labelled examples after an alert before the next one.")
    warmup: int = Field(500, ge=0, description="Labelled examples before any alert.")
    fallback_min_examples: int = Field(
        200, ge=1, description="Labels an online learner needs before it scores in place of an unavailable model."
    )
    segment_factor: float = Field(
        3.0, gt=1, description="Per-segment calibration CUSUM: the change of observed / expected events it is tuned to."
    )
    segment_threshold: float = Field(
        18.0, gt=0, description="Per-segment CUSUM log-likelihood ratio that counts as drift (higher: fewer false alarms)."
    )
    segment_min_ratio: float = Field(
        1.5, gt=1, description="A segment drifts only when its new observed / expected ratio is off from 1 this much."
    )
    segment_min_events: int = Field(
        10, ge=1, description="Events (clicks, orders, chargebacks) a segment's reference needs before its CUSUM runs."
    )
    segment_min_examples: int = Field(
        300, ge=0, description="Examples a segment's reference needs before its CUSUM runs (a cold start's transient"
        " stays out of the reference)."
    )
    change_point_memory: int = Field(
        20_000, ge=100, description="Labelled-example times kept per model to date a drift's change point."
    )


class RefitPolicy(BaseModel):
    """Data, evaluation gates and rollout timing of a refit (``streamdecide refit``).

    Log-loss changes are relative: ``0.01`` means one percent of the live model's log-loss.

    Examples
    --------
    >>> p = RefitPolicy()
    >>> p.recent_window > p.min_examples, 0 < p.holdout_fraction < 1
    (True, True)
    """

    model_config = ConfigDict(frozen=True)

    recent_window: int = Field(20_000, ge=10, description="Newest labelled examples kept per model.")
    replay_size: int = Field(20_000, ge=0, description="Older examples kept by reservoir sampling for replay.")
    min_examples: int = Field(2_000, ge=10, description="Recent examples needed before a refit trains at all.")
    holdout_fraction: float = Field(0.25, gt=0, lt=1, description="Share of recent and replay rows held out.")
    max_replay_regression: float = Field(
        0.05, ge=0, description="Largest relative log-loss increase allowed on the held-out replay (old) data."
    )
    min_recent_improvement: float = Field(
        0.005, ge=0, description="Smallest relative log-loss decrease required on held-out recent data and in shadow."
    )
    min_holdout_positives: int = Field(
        30,
        ge=0,
        description="Positives the held-out recent rows need for the recent gate to judge; with fewer, "
        "it rejects only a significantly worse candidate and the shadow decides.",
    )
    recent_gate_z: float = Field(
        2.0,
        ge=0,
        description="Standard errors by which a candidate with too few held-out positives must be worse "
        "to be rejected.",
    )
    segment_offset_prior: float = Field(
        1.0, gt=0, description="Precision of the prior on a refit's per-segment logit offsets (higher: needs more evidence)."
    )
    segment_offset_min_z: float = Field(
        2.0, ge=0, description="A refit keeps a segment's logit offset only this many standard errors from 0."
    )
    shadow_examples: int = Field(1_000, ge=1, description="Labelled examples with a shadow score before deciding.")
    change_wait_s: float = Field(
        900.0, gt=0, description="How long a drift-triggered refit waits for `min_examples` post-change examples."
    )
    shadow_timeout_s: float = Field(900.0, gt=0, description="Reject when the shadow examples do not arrive in time.")
    unload_grace_s: float = Field(
        5.0, ge=0, description="Time for workers to follow a model event before Triton's served versions change."
    )
    auto: bool = Field(True, description="A drift alert starts `streamdecide refit MODEL` (one at a time per model).")


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
    metrics_port: int = Field(9464, ge=1, le=65535, description="Worker Prometheus endpoint port.")
    metrics_host: str = Field(
        "127.0.0.1", min_length=1, description="Interface of the worker Prometheus endpoint (all interfaces in containers)."
    )

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
    producer_linger_ms: float = Field(
        5.0, ge=0, le=1000,
        description="Worker producer's wait for more records before a produce request (fewer, larger requests; "
        "5 ms cut the broker's CPU per event by 43-75 % in streamdecide bench).",
    )  # fmt: skip
    max_message_bytes: int = Field(1_000_000, ge=1024, description="Larger input messages go to ops.dlq.")
    max_clock_skew_s: float = Field(
        300.0, ge=0, description="Event times later than the clock by more than this do not advance window expiry."
    )
    dlq_payload_max_bytes: int = Field(
        1_000_000, ge=1024, description="Dead letters keep at most this many bytes of the original message."
    )
    model_repository: Path | None = Field(None, description="Triton model repository; default DATA_DIR/model_repository.")
    seed: int = 7
    log_level: Literal["crit", "error", "warn", "info", "debug"] = "warn"
    eager_delivery: bool = Field(
        True,
        description="Hand each fetched record to its stream in one step when it need not wait, instead of "
        "through four tasks (cut the hand-over at 1,500 events/s from 18-34 to 3.5-4.9 ms p50 in BENCHMARKS.md).",
    )  # fmt: skip
    event_loop: EventLoopKind = Field(
        "uvloop",
        description="Event loop of the worker processes: uvloop (libuv) or the standard library's "
        "(uvloop cut the worker's CPU per event by 15 % at 300 events/s in BENCHMARKS.md).",
    )  # fmt: skip

    cpu_affinity: str = Field(
        "",
        description="Cores the worker process runs on, as a Linux cpulist (1, 0,2-3); empty = any core. A core of "
        "its own kept the broker and Triton from preempting micro-batches (BENCHMARKS.md).",
    )  # fmt: skip

    batching: Batching = Batching()
    gc: GcPolicy = GcPolicy()
    triton: TritonClientSettings = TritonClientSettings()
    intent: IntentPolicy = IntentPolicy()
    fraud: FraudPolicy = FraudPolicy()
    bidding: BiddingPolicy = BiddingPolicy()
    pricing: PricingPolicy = PricingPolicy()
    profiles: ProfilePolicy = ProfilePolicy()
    scenes: SceneRoutes = SceneRoutes()
    learning: LearningPolicy = LearningPolicy()
    refit: RefitPolicy = RefitPolicy()

    @field_validator("cpu_affinity")
    @classmethod
    def _cpulist(cls, value: str) -> str:
        return format_cpulist(parse_cpulist(value))

    @property
    def cpu_cores(self) -> frozenset[int]:
        """:attr:`cpu_affinity` as a set of cores (empty: no pinning)."""
        return parse_cpulist(self.cpu_affinity)

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
