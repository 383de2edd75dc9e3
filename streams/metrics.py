"""Prometheus metrics of the worker: one :class:`Metrics` object per process, its own registry.

Every family is declared once in :data:`METRICS` (name, kind, labels, help);
the dashboard, the alert rules and ``docs/operations.md`` refer to these names
and the deploy tests check that they exist. Nothing here uses prometheus_client's
global default registry, so tests build as many isolated :class:`Metrics` as
they like. Label values that come from outside (topics, models, detectors) go
through :func:`bounded_label` so a bad producer cannot explode cardinality.

Besides the observations, two worker tasks live here: :func:`watch_consumer_lag`
(committed against end offsets of the worker's group) and :func:`count_ops_messages`
(what lands on ``ops.drift-alerts`` and ``ops.model-events``), and the endpoint,
:func:`serve_metrics`.

Examples
--------
>>> m = Metrics()
>>> m.observe_triton_request("ctr", latency_ms=4.2, rows=32)
>>> m.value("streamdecide_triton_requests_total", model="ctr")
1.0
>>> m.value("streamdecide_triton_batch_rows_sum", model="ctr")
32.0
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from wsgiref.simple_server import WSGIServer

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from schemas.catalog import Campaign
from schemas.decisions import BidDecision, Decision, FraudDecision, PriceDecision
from schemas.ops import DlqRecord
from schemas.reasons import DlqReason
from streams.consume import follow
from streams.embedded.process import PortInUseError
from streams.settings import Settings
from streams.topics import CATALOG_TOPICS, EVENT_TOPICS
from streams.topics import DRIFT_ALERTS as DRIFT_ALERTS_TOPIC
from streams.topics import MODEL_EVENTS as MODEL_EVENTS_TOPIC

log = logging.getLogger("streamdecide.metrics")

MetricKind = Literal["counter", "gauge", "histogram"]

LATENCY_BUCKETS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2500)
TRITON_LATENCY_BUCKETS_MS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 30, 50, 75, 100, 200, 500, 1000)
BATCH_ROWS_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
DECISION_TYPES: tuple[str, ...] = ("bid", "price", "fraud")
BREAKER_STATE_VALUES: dict[str, int] = {"closed": 0, "half_open": 1, "open": 2}
OTHER_LABEL = "other"
CPM_PER_UNIT = 1000.0
UNKNOWN_LABEL = "unknown"
RETRY_AFTER_ERROR_S = 5.0
METRICS_PORT_SETTING = "STREAMDECIDE_METRICS_PORT"
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_DLQ_REASONS = frozenset(r.value for r in DlqReason)

EVENTS = "streamdecide_events_total"
DLQ_MESSAGES = "streamdecide_dlq_messages_total"
DECISIONS = "streamdecide_decisions_total"
DEGRADED_DECISIONS = "streamdecide_degraded_decisions_total"
DECISION_LATENCY = "streamdecide_decision_latency_ms"
TRITON_REQUESTS = "streamdecide_triton_requests_total"
TRITON_LATENCY = "streamdecide_triton_request_latency_ms"
TRITON_BATCH_ROWS = "streamdecide_triton_batch_rows"
BATCH_EVENTS = "streamdecide_batch_events"
TRITON_FAILURES = "streamdecide_triton_failures_total"
BREAKER_STATE = "streamdecide_circuit_breaker_state"
BREAKER_OPENS = "streamdecide_circuit_breaker_opens_total"
LIVE_VERSION = "streamdecide_model_live_version"
CONSUMER_LAG = "streamdecide_consumer_lag"
DRIFT_ALERTS = "streamdecide_drift_alerts_total"
MODEL_EVENTS = "streamdecide_model_events_total"
AD_SPEND = "streamdecide_ad_spend_total"
AD_BUDGET = "streamdecide_ad_daily_budget"
WORKER_READY = "streamdecide_worker_ready"
LABELLED_EXAMPLES = "streamdecide_labelled_examples_total"
LEARNER_LOG_LOSS = "streamdecide_progressive_log_loss"


@dataclass(frozen=True)
class MetricSpec:
    """One metric family: its exposed name, kind, label names and help text."""

    name: str
    kind: MetricKind
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()

    def sample_names(self) -> tuple[str, ...]:
        """Names of the series this family exposes (what PromQL can select).

        Examples
        --------
        >>> MetricSpec("x_ms", "histogram", (), "h", (1.0,)).sample_names()
        ('x_ms_bucket', 'x_ms_sum', 'x_ms_count', 'x_ms_created')
        >>> MetricSpec("y_total", "counter", (), "c").sample_names()
        ('y_total', 'y_created')
        """
        if self.kind == "histogram":
            return tuple(f"{self.name}_{s}" for s in ("bucket", "sum", "count", "created"))
        if self.kind == "counter":
            return (self.name, f"{self.name.removesuffix('_total')}_created")
        return (self.name,)


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(EVENTS, "counter", ("topic", "kind"), "Input events decoded by the ingest agents, per topic and kind."),
    MetricSpec(DLQ_MESSAGES, "counter", ("source_topic", "reason"),
               "Messages dead-lettered to ops.dlq, per source topic and DLQ reason code."),
    MetricSpec(DECISIONS, "counter", ("type", "action", "scene"),
               "Decisions published, per type (bid, price, fraud), action and scene."),
    MetricSpec(DEGRADED_DECISIONS, "counter", ("type",), "Decisions taken by a fallback (degraded: true), per type."),
    MetricSpec(BATCH_EVENTS, "histogram", ("topic",),
               "Records per micro-batch an ingest agent took (BATCHING__MAX_SIZE, BATCHING__WINDOW_S), per input topic.",
               BATCH_ROWS_BUCKETS),
    MetricSpec(DECISION_LATENCY, "histogram", ("type",),
               "Event (Kafka record timestamp) to decision latency in milliseconds, per type.", LATENCY_BUCKETS_MS),
    MetricSpec(TRITON_REQUESTS, "counter", ("model",), "Successful batched inference requests to Triton, per model."),
    MetricSpec(TRITON_LATENCY, "histogram", ("model",),
               "Round trip of one successful batched Triton request in milliseconds, per model.",
               TRITON_LATENCY_BUCKETS_MS),
    MetricSpec(TRITON_BATCH_ROWS, "histogram", ("model",), "Rows per Triton request, per model.", BATCH_ROWS_BUCKETS),
    MetricSpec(TRITON_FAILURES, "counter", ("model", "reason"),
               "Scoring calls that fell back, per model and reason (triton_timeout, triton_unavailable, circuit_open)."),
    MetricSpec(BREAKER_STATE, "gauge", ("model",), "Circuit breaker state per model: 0 closed, 1 half open, 2 open."),
    MetricSpec(BREAKER_OPENS, "counter", ("model",), "Times the circuit breaker of a model opened."),
    MetricSpec(LIVE_VERSION, "gauge", ("model",), "Model version Triton answered the last request with, per model."),
    MetricSpec(CONSUMER_LAG, "gauge", ("group", "topic", "partition"),
               "Messages between the consumer group's committed offset and the end of each input partition."),
    MetricSpec(DRIFT_ALERTS, "counter", ("model", "detector"), "Messages seen on ops.drift-alerts, per model and detector."),
    MetricSpec(MODEL_EVENTS, "counter", ("model", "action"),
               "Messages seen on ops.model-events, per model and action (trained, promoted, rejected, ...)."),
    MetricSpec(AD_SPEND, "counter", ("currency",),
               "Money spent on won impressions (clearing_cpm / 1000 of each ad_impression win notice), per currency."),
    MetricSpec(AD_BUDGET, "gauge", ("currency",), "Sum of the daily budgets of the catalogued campaigns."),
    MetricSpec(WORKER_READY, "gauge", (), "1 once the Triton contract is checked and the catalog is loaded."),
    MetricSpec(LABELLED_EXAMPLES, "counter", ("model", "label"),
               "Decisions joined with their outcome (published to ops.labelled), per model and label."),
    MetricSpec(LEARNER_LOG_LOSS, "gauge", ("model", "scorer"),
               "Progressive-validation log-loss (scored before learning) per model, of the live Triton model, "
               "the online river learner and a shadow candidate."),
)
SPECS: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}


class IncomingLike(Protocol):
    """What :meth:`Metrics.observe_events` reads of an ``agents.context.Incoming``."""

    topic: str

    @property
    def event(self) -> object: ...


def observe_many(histogram: Any, values: Sequence[float]) -> None:
    """``histogram.observe(v)`` for each of ``values`` (one child of a labelled ``Histogram``), batched.

    ``observe`` takes two locks per value (the sum and a bucket); this takes one per bucket
    touched and one for the sum. The buckets are the ones ``observe`` picks (the first
    upper bound ``>= v``); a NaN adds to the sum only, as there.

    Examples
    --------
    >>> h = Histogram("x_ms", "x", buckets=(1.0, 5.0), registry=CollectorRegistry())
    >>> observe_many(h, [0.5, 1.0, 3.0, 9.0])
    >>> [b.get() for b in h._buckets], h._sum.get()
    ([2.0, 1.0, 1.0], 13.5)
    """
    if not values:
        return
    histogram._raise_if_not_observable()
    bounds = histogram._upper_bounds
    histogram._sum.inc(sum(values))
    for index, n in Tally(bisect_left(bounds, v) for v in values if v == v).items():
        histogram._buckets[index].inc(n)


def bounded_label(value: object) -> str:
    """A label value safe for Prometheus: short, plain characters, else ``"other"``.

    Examples
    --------
    >>> bounded_label("ctr"), bounded_label("events.clicks"), bounded_label("x" * 100), bounded_label(None)
    ('ctr', 'events.clicks', 'other', 'other')
    """
    text = str(value) if value is not None else ""
    return text if _LABEL_VALUE.match(text) else OTHER_LABEL


def dlq_reason(error: str) -> str:
    """The stable reason code at the front of a DLQ record's ``error`` text.

    Examples
    --------
    >>> dlq_reason("invalid_json: unexpected end of data"), dlq_reason("boom")
    ('invalid_json', 'other')
    """
    code = error.split(":", 1)[0].strip()
    return code if code in _DLQ_REASONS else OTHER_LABEL


def decision_type(decision: Decision) -> str:
    """``bid``, ``price`` or ``fraud`` (the ``type`` label).

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> common = dict(decision_id="d", event_id="e", user_id="u", decided_at=datetime.now(UTC), latency_ms=3.0,
    ...               scene="checkout", model_version="fraud:1", degraded=False)
    >>> decision_type(FraudDecision(**common, order_id="o", action="review", risk_score=0.4))
    'fraud'
    """
    if isinstance(decision, BidDecision):
        return "bid"
    if isinstance(decision, PriceDecision):
        return "price"
    if isinstance(decision, FraudDecision):
        return "fraud"
    raise TypeError(f"not a decision type: {type(decision).__name__}")


def decision_action(decision: Decision) -> str:
    """The ``action`` label: bids ``bid``/``no_bid``; prices ``up``/``down``/``list``; fraud its action.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> common = dict(decision_id="d", event_id="e", user_id="u", decided_at=datetime.now(UTC), latency_ms=3.0,
    ...               model_version="m:1", degraded=False)
    >>> decision_action(BidDecision(**common, scene="search", slot_id="s", bid_cpm=0, currency="USD", p_ctr=0.01))
    'no_bid'
    >>> decision_action(PriceDecision(**common, scene="product", product_id="p", price=9.5, list_price=10,
    ...                               currency="USD", p_convert=0.1))
    'down'
    """
    if isinstance(decision, BidDecision):
        return "bid" if decision.bid_cpm > 0 else "no_bid"
    if isinstance(decision, PriceDecision):
        if decision.price > decision.list_price:
            return "up"
        return "down" if decision.price < decision.list_price else "list"
    if isinstance(decision, FraudDecision):
        return decision.action
    raise TypeError(f"not a decision type: {type(decision).__name__}")


def partition_lag(committed: int | None, beginning: int, end: int) -> int:
    """Messages a consumer group still has to read in one partition.

    ``committed`` is None (or negative) when the group never committed there: it
    then starts at the beginning (``auto_offset_reset=earliest``).

    Examples
    --------
    >>> partition_lag(90, 0, 100), partition_lag(None, 40, 100), partition_lag(120, 0, 100)
    (10, 60, 0)
    """
    start = committed if committed is not None and committed >= 0 else beginning
    return max(0, end - max(start, beginning))


def budget_by_currency(campaigns: Iterable[Campaign]) -> dict[str, float]:
    """Daily budgets of ``campaigns`` summed per currency.

    Examples
    --------
    >>> c = Campaign(campaign_id="c1", ad_id="a", category="toys", max_cpc=1, daily_budget=50, currency="EUR")
    >>> budget_by_currency([c, c.model_copy(update={"campaign_id": "c2"})])
    {'EUR': 100.0}
    """
    budget: dict[str, float] = {}
    for campaign in campaigns:
        budget[campaign.currency] = budget.get(campaign.currency, 0.0) + float(campaign.daily_budget)
    return budget


def _build(spec: MetricSpec, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
    if spec.kind == "counter":
        return Counter(spec.name, spec.help, spec.labels, registry=registry)
    if spec.kind == "gauge":
        return Gauge(spec.name, spec.help, spec.labels, registry=registry)
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)


class Metrics:
    """Every family of :data:`METRICS` in one registry, with the observations the worker makes.

    Parameters
    ----------
    registry
        Where the families live; a fresh :class:`CollectorRegistry` when None.

    Examples
    --------
    >>> m = Metrics()
    >>> m.set_breaker_state("fraud", "open"); m.set_live_version("fraud", "3")
    >>> m.value("streamdecide_circuit_breaker_state", model="fraud"), m.value("streamdecide_model_live_version", model="fraud")
    (2.0, 3.0)
    >>> b"streamdecide_circuit_breaker_state{model=\\"fraud\\"} 2.0" in m.exposition()
    True
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._families = {spec.name: _build(spec, self.registry) for spec in METRICS}
        self._start_at_zero()

    def _start_at_zero(self) -> None:
        # Known label sets exist from the start at 0, so rate() and increase() see their
        # first increment and panels show 0 rather than "no data".
        for kind in DECISION_TYPES:
            self._families[DEGRADED_DECISIONS].labels(type=kind)
        for topic in EVENT_TOPICS:
            for reason in _DLQ_REASONS - {DlqReason.CATALOG_INVALID.value}:
                self._families[DLQ_MESSAGES].labels(source_topic=topic, reason=reason)
        for topic in CATALOG_TOPICS:
            self._families[DLQ_MESSAGES].labels(source_topic=topic, reason=DlqReason.CATALOG_INVALID.value)

    def family(self, name: str) -> Counter | Gauge | Histogram:
        """The prometheus_client object of family ``name`` (a key of :data:`SPECS`)."""
        return self._families[name]

    def value(self, sample: str, **labels: str) -> float | None:
        """Current value of one series (``None`` when it was never observed)."""
        return self.registry.get_sample_value(sample, labels)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format, as the endpoint serves it."""
        return generate_latest(self.registry)

    def observe_events(self, items: Iterable[IncomingLike]) -> None:
        """Count decoded input events (``Incoming`` objects) per topic and kind.

        Examples
        --------
        >>> from types import SimpleNamespace as NS
        >>> m = Metrics()
        >>> m.observe_events([NS(topic="events.orders", event=NS(kind="order"))] * 2)
        >>> m.value("streamdecide_events_total", topic="events.orders", kind="order")
        2.0
        """
        family = self._families[EVENTS]
        counts = Tally((item.topic, getattr(item.event, "kind", None)) for item in items)
        for (topic, kind), n in counts.items():
            family.labels(topic=bounded_label(topic), kind=bounded_label(kind)).inc(n)

    def observe_wins(self, items: Iterable[IncomingLike], campaigns: Mapping[str, Campaign]) -> None:
        """Add the cost of every ``ad_impression`` win notice among ``items`` to the spend of its currency.

        Examples
        --------
        >>> from types import SimpleNamespace as NS
        >>> c = Campaign(campaign_id="c1", ad_id="a", category="toys", max_cpc=1, daily_budget=50, currency="EUR")
        >>> win = NS(topic="events.clicks", event=NS(kind="ad_impression", campaign_id="c1", clearing_cpm=2500.0))
        >>> m = Metrics()
        >>> m.observe_wins([win, NS(topic="events.clicks", event=NS(kind="ad_click"))], {"c1": c})
        >>> m.value("streamdecide_ad_spend_total", currency="EUR")
        2.5
        """
        family = self._families[AD_SPEND]
        for item in items:
            event: Any = item.event
            if getattr(event, "kind", None) != "ad_impression":
                continue
            campaign = campaigns.get(event.campaign_id)
            currency = campaign.currency if campaign is not None else UNKNOWN_LABEL
            family.labels(currency=currency).inc(event.clearing_cpm / CPM_PER_UNIT)

    def observe_batch(self, topic: str, records: int) -> None:
        """One micro-batch an ingest agent took from ``topic``: how many records it held.

        Batch size is what per-batch costs (Triton requests, produce requests, table writes) are
        shared by; at the same rate, smaller batches cost more CPU per event.

        Examples
        --------
        >>> m = Metrics()
        >>> m.observe_batch("events.clicks", 30)
        >>> m.value("streamdecide_batch_events_sum", topic="events.clicks")
        30.0
        """
        self._families[BATCH_EVENTS].labels(topic=bounded_label(topic)).observe(records)

    def observe_dlq(self, records: Iterable[DlqRecord]) -> None:
        """Count dead-lettered messages per source topic and reason code."""
        family = self._families[DLQ_MESSAGES]
        for record in records:
            family.labels(source_topic=bounded_label(record.source_topic), reason=dlq_reason(record.error)).inc()

    def observe_decisions(self, decisions: Iterable[Decision]) -> None:
        """Count decisions (per type, action, scene), the degraded ones, and their latency."""
        counts: Tally[tuple[str, str, str]] = Tally()
        degraded: Tally[str] = Tally()
        latencies: dict[str, list[float]] = {}
        for decision in decisions:
            kind = decision_type(decision)
            counts[(kind, decision_action(decision), decision.scene)] += 1
            degraded[kind] += decision.degraded
            latencies.setdefault(kind, []).append(decision.latency_ms)
        for (kind, action, scene), n in counts.items():
            self._families[DECISIONS].labels(type=kind, action=action, scene=scene).inc(n)
        for kind, n in degraded.items():
            if n:
                self._families[DEGRADED_DECISIONS].labels(type=kind).inc(n)
        for kind, values in latencies.items():
            observe_many(self._families[DECISION_LATENCY].labels(type=kind), values)

    def observe_triton_request(self, model: str, latency_ms: float, rows: int) -> None:
        """One successful batched Triton request: its round trip and its rows."""
        label = bounded_label(model)
        self._families[TRITON_REQUESTS].labels(model=label).inc()
        self._families[TRITON_LATENCY].labels(model=label).observe(latency_ms)
        self._families[TRITON_BATCH_ROWS].labels(model=label).observe(rows)

    def observe_triton_failure(self, model: str, reason: str) -> None:
        """A scoring call that fell back (``reason`` is a ``schemas.reasons.Reason`` value)."""
        self._families[TRITON_FAILURES].labels(model=bounded_label(model), reason=bounded_label(reason)).inc()

    def set_breaker_state(self, model: str, state: str, opened: bool = False) -> None:
        """Record a model's breaker state; ``opened`` when this call moved it to ``open``."""
        label = bounded_label(model)
        self._families[BREAKER_STATE].labels(model=label).set(BREAKER_STATE_VALUES[state])
        if opened:
            self._families[BREAKER_OPENS].labels(model=label).inc()

    def set_live_version(self, model: str, version: int | str) -> None:
        """The model version that is serving (non-numeric versions are ignored)."""
        text = str(version).strip()
        if text.isdigit():
            self._families[LIVE_VERSION].labels(model=bounded_label(model)).set(int(text))

    def set_consumer_lag(self, group: str, lags: Mapping[tuple[str, int], int]) -> None:
        """Lag per ``(topic, partition)`` of consumer group ``group``.

        Examples
        --------
        >>> m = Metrics()
        >>> m.set_consumer_lag("streamdecide", {("events.clicks", 0): 7})
        >>> m.value("streamdecide_consumer_lag", group="streamdecide", topic="events.clicks", partition="0")
        7.0
        """
        family = self._families[CONSUMER_LAG]
        for (topic, partition), lag in lags.items():
            family.labels(group=bounded_label(group), topic=bounded_label(topic), partition=str(partition)).set(lag)

    def observe_drift_alert(self, model: object, detector: object) -> None:
        """One message on ``ops.drift-alerts``."""
        self._families[DRIFT_ALERTS].labels(model=bounded_label(model), detector=bounded_label(detector)).inc()

    def observe_model_event(self, model: object, action: object) -> None:
        """One message on ``ops.model-events``."""
        self._families[MODEL_EVENTS].labels(model=bounded_label(model), action=bounded_label(action)).inc()

    def set_ad_budget(self, budget: Mapping[str, float]) -> None:
        """Daily budget per currency (see :func:`budget_by_currency`)."""
        for currency, amount in budget.items():
            self._families[AD_BUDGET].labels(currency=bounded_label(currency)).set(amount)

    def observe_ops_message(self, topic: str, raw: bytes | None) -> None:
        """Count one raw message of ``ops.drift-alerts`` or ``ops.model-events`` (unparsable: ``unknown``).

        Examples
        --------
        >>> m = Metrics()
        >>> m.observe_ops_message("ops.model-events", b'{"model": "ctr", "version": 2, "action": "rejected"}')
        >>> m.observe_ops_message("ops.drift-alerts", b"not json")
        >>> m.value("streamdecide_model_events_total", model="ctr", action="rejected")
        1.0
        >>> m.value("streamdecide_drift_alerts_total", model="unknown", detector="unknown")
        1.0
        """
        try:
            data = orjson.loads(raw or b"")
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            data = {}
        model = data.get("model", UNKNOWN_LABEL)
        if topic == DRIFT_ALERTS_TOPIC:
            self.observe_drift_alert(model, data.get("detector", UNKNOWN_LABEL))
        elif topic == MODEL_EVENTS_TOPIC:
            self.observe_model_event(model, data.get("action", UNKNOWN_LABEL))

    def observe_labelled(self, examples: Iterable[Any]) -> None:
        """Count joined examples (``LabelledExample``-like: ``model``, ``label``)."""
        family = self._families[LABELLED_EXAMPLES]
        for example in examples:
            family.labels(model=bounded_label(example.model), label=str(bool(example.label)).lower()).inc()

    def set_learner_loss(self, losses: Mapping[str, Mapping[str, Any]]) -> None:
        """Rolling log-loss per model and scorer (objects with ``value``; unset ones are skipped).

        Examples
        --------
        >>> from types import SimpleNamespace as NS
        >>> m = Metrics()
        >>> m.set_learner_loss({"ctr": {"live": NS(value=0.12), "online": NS(value=None)}})
        >>> m.value("streamdecide_progressive_log_loss", model="ctr", scorer="live")
        0.12
        """
        family = self._families[LEARNER_LOG_LOSS]
        for model, by_scorer in losses.items():
            for scorer, loss in by_scorer.items():
                if loss.value is not None:
                    family.labels(model=bounded_label(model), scorer=bounded_label(scorer)).set(loss.value)

    def set_worker_ready(self, ready: bool) -> None:
        """1 once the worker decides (contract checked, catalog loaded), else 0."""
        self._families[WORKER_READY].set(1 if ready else 0)


def metrics_host(settings: Settings) -> str:
    """Interface of the worker endpoint (``metrics_host``; containers listen on all interfaces).

    Examples
    --------
    >>> metrics_host(Settings(_env_file=None))
    '127.0.0.1'
    """
    return settings.metrics_host


async def measure_consumer_lag(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, topics: Sequence[str]
) -> dict[tuple[str, int], int]:
    """Lag of ``group`` on every partition of ``topics``: committed offsets against end offsets.

    ``consumer`` has no group of its own; it only answers offset and metadata requests.
    """
    await consumer.topics()
    parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    if not parts:
        return {}
    committed = await admin.list_consumer_group_offsets(group, partitions=parts)
    beginning = await consumer.beginning_offsets(parts)
    end = await consumer.end_offsets(parts)
    return {
        (tp.topic, tp.partition): partition_lag(committed[tp].offset if tp in committed else None, beginning[tp], end[tp])
        for tp in parts
    }


async def watch_consumer_lag(
    bootstrap: str,
    group: str,
    topics: Sequence[str],
    metrics: Metrics,
    client_kwargs: dict[str, Any],
    interval_s: float,
) -> None:
    """Every ``interval_s``, set the lag gauges of ``group``; Kafka errors are logged and retried.

    Every worker measures the whole group, so dashboards take ``max`` over workers.
    """
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **client_kwargs)
        try:
            await admin.start()
            await consumer.start()
            while True:
                metrics.set_consumer_lag(group, await measure_consumer_lag(admin, consumer, group, topics))
                await asyncio.sleep(interval_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("consumer lag not measured; retrying",
                        extra={"group": group, "error": f"{type(exc).__name__}: {exc}"[:300]})
        finally:
            await consumer.stop()
            await admin.close()
        await asyncio.sleep(max(interval_s, RETRY_AFTER_ERROR_S))


async def count_ops_messages(bootstrap: str, metrics: Metrics, client_kwargs: dict[str, Any]) -> None:
    """Count what lands on ``ops.drift-alerts`` and ``ops.model-events`` from now on, whoever sent it.

    Refits and learners may run in other processes; reading the topics counts
    every message once per worker (dashboards take ``max`` over workers).
    """
    topics = (DRIFT_ALERTS_TOPIC, MODEL_EVENTS_TOPIC)
    while True:
        try:
            async for record in follow(bootstrap, topics, from_beginning=False, client_kwargs=client_kwargs):
                metrics.observe_ops_message(record.topic, record.value)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("ops topics not followed; retrying", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        await asyncio.sleep(RETRY_AFTER_ERROR_S)


def serve_metrics(registry: Collector, host: str, port: int) -> WSGIServer:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread; returns the server.

    The thread answers even while the event loop is busy, so a scrape never
    waits for a batch; every family is thread-safe (prometheus_client locks).

    Raises
    ------
    PortInUseError
        When ``port`` is taken on ``host`` (names ``STREAMDECIDE_METRICS_PORT``).

    Examples
    --------
    >>> import urllib.request
    >>> from streams.embedded.process import free_port
    >>> m, port = Metrics(), free_port()
    >>> server = serve_metrics(m.registry, "127.0.0.1", port)
    >>> body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    >>> b"# TYPE streamdecide_worker_ready gauge" in body
    True
    >>> serve_metrics(m.registry, "127.0.0.1", port)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streams.embedded.process.PortInUseError: worker metrics port ... is already in use on 127.0.0.1; set STREAMDECIDE_METRICS_PORT ...
    >>> server.shutdown(); server.server_close()
    """
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(port, "worker metrics", METRICS_PORT_SETTING, host) from None
        raise
    return server


def metrics_reference() -> str:
    """The metric list of ``docs/operations.md`` (a test keeps the doc in step).

    Examples
    --------
    >>> metrics_reference().splitlines()[0]
    '| metric | type | labels | meaning |'
    """
    lines = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for spec in METRICS:
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "—"
        lines.append(f"| `{spec.name}` | {spec.kind} | {labels} | {spec.help} |")
    return "\n".join(lines)
