"""A run, summarised: decision and ops records in, time-binned series and totals out.

Pure: no Kafka, no clock, no plotting. :mod:`streams.report_source` reads the records,
:mod:`streams.report_plot` draws them and :mod:`streams.report_html` writes the page.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from streams.topics import BIDS, DLQ, DRIFT_ALERTS, FRAUD, MODEL_EVENTS, PRICES

DECISION_NAMES: dict[str, str] = {BIDS: "bids", PRICES: "prices", FRAUD: "fraud"}
"""Short name of each decision topic, as in the demo summary."""
TYPES: tuple[str, ...] = tuple(DECISION_NAMES.values())
TIME_FIELDS: dict[str, str] = {DLQ: "received_at", DRIFT_ALERTS: "detected_at", MODEL_EVENTS: "at"}
"""Which field dates a record of each ops topic (decisions: ``decided_at``)."""
NICE_BINS_S: tuple[float, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
TARGET_BINS = 40

Record = tuple[str, dict[str, Any]]
"""``(topic, decoded JSON value)`` as read from Kafka."""


def percentile_ms(values: Sequence[float], q: float) -> float:
    """Latency percentile in ms, rounded to 0.01 ms (0 when there are none).

    Examples
    --------
    >>> percentile_ms([1.0, 2.0, 3.0, 4.0], 50), percentile_ms([], 99)
    (2.5, 0.0)
    """
    return round(float(np.percentile(values, q)), 2) if len(values) else 0.0


def bin_seconds(span_s: float, target_bins: int = TARGET_BINS) -> float:
    """The smallest round bin width that cuts ``span_s`` into at most ``target_bins`` bins.

    Examples
    --------
    >>> bin_seconds(35), bin_seconds(600), bin_seconds(3 * 3600)
    (1, 15, 300)
    """
    return next((b for b in NICE_BINS_S if span_s / b <= target_bins), NICE_BINS_S[-1])


def dlq_reason(error: str) -> str:
    """The reason code of a DLQ record's ``error`` (``code: detail``).

    Examples
    --------
    >>> dlq_reason("invalid_json: unexpected end of data"), dlq_reason("")
    ('invalid_json', 'unknown')
    """
    return error.split(":", 1)[0].strip() or "unknown"


@dataclass(frozen=True)
class Marker:
    """A drift alert or a model event, placed on the run's timeline."""

    t_s: float
    at: datetime
    kind: Literal["drift_alert", "model_event"]
    model: str
    label: str


@dataclass(frozen=True)
class Series:
    """Per-bin values; bin ``i`` covers ``[starts_s[i], starts_s[i] + bin_s)`` after the run's start.

    Rates are per second; ``nan`` marks a bin without the samples a value needs.
    """

    bin_s: float
    starts_s: list[float]
    decisions_per_s: dict[str, list[float]]
    dlq_per_s: list[float]
    p50_ms: list[float]
    p99_ms: list[float]
    degraded_share: list[float]
    bid_rate: list[float]


@dataclass(frozen=True)
class RunSummary:
    """Totals of a run (the report's summary table)."""

    started_at: datetime | None
    ended_at: datetime | None
    events_decided: int
    decisions: dict[str, int]
    degraded: dict[str, int]
    p50_ms: float
    p99_ms: float
    fraud_actions: dict[str, int]
    bids: int
    passes: int
    pass_reasons: dict[str, int]
    price_reasons: dict[str, int]
    experiment_arms: dict[str, int]
    dlq_reasons: dict[str, int]
    drift_alerts: int
    model_events: int

    @property
    def total_decisions(self) -> int:
        return sum(self.decisions.values())

    @property
    def degraded_share(self) -> float:
        """Share of all decisions taken by a fallback (0 without decisions)."""
        return sum(self.degraded.values()) / self.total_decisions if self.total_decisions else 0.0

    @property
    def dlq(self) -> int:
        return sum(self.dlq_reasons.values())

    @property
    def duration_s(self) -> float:
        if self.started_at is None or self.ended_at is None:
            return 0.0
        return (self.ended_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready totals, named as in the demo's summary line where they overlap."""
        return {
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_s": round(self.duration_s, 3),
            "events_decided": self.events_decided,
            "decisions": dict(self.decisions),
            "degraded": sum(self.degraded.values()),
            "degraded_share": round(self.degraded_share, 4),
            "dlq": self.dlq,
            "dlq_reasons": dict(self.dlq_reasons),
            "drift_alerts": self.drift_alerts,
            "model_events": self.model_events,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "fraud_actions": dict(self.fraud_actions),
            "bids": self.bids,
            "passes": self.passes,
        }


@dataclass(frozen=True)
class RunReport:
    """Everything the report shows."""

    summary: RunSummary
    series: Series
    markers: list[Marker] = field(default_factory=list)


def _when(value: dict[str, Any], name: str) -> datetime | None:
    raw = value.get(name)
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _marker_label(topic: str, value: dict[str, Any]) -> str:
    if topic == DRIFT_ALERTS:
        return f"{value.get('model', '?')} {value.get('detector', '?')}/{value.get('signal', '?')}"
    return f"{value.get('model', '?')} v{value.get('version', '?')} {value.get('action', '?')}"


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan


def summarize_run(records: Iterable[Record], bin_s: float | None = None) -> RunReport:
    """Bin decisions, dead letters, drift alerts and model events of one run over time.

    The run starts at its earliest dated record and ends at its latest; records
    of other topics, or without a parseable time, are ignored.

    Parameters
    ----------
    records
        ``(topic, value)`` pairs from the decision topics, ``ops.dlq``,
        ``ops.drift-alerts`` and ``ops.model-events``.
    bin_s
        Bin width in seconds; default: :func:`bin_seconds` of the run's span.

    Returns
    -------
    RunReport
        Totals, per-bin series and the timeline markers.

    Examples
    --------
    >>> t = "2026-01-01T00:00:0{}+00:00".format
    >>> run = [
    ...     (BIDS, {"event_id": "e1", "decided_at": t(0), "latency_ms": 4.0, "degraded": False,
    ...             "reasons": ["model"], "bid_cpm": 2.5}),
    ...     (BIDS, {"event_id": "e2", "decided_at": t(1), "latency_ms": 8.0, "degraded": False,
    ...             "reasons": ["below_floor"], "bid_cpm": 0.0}),
    ...     (PRICES, {"event_id": "e2", "decided_at": t(1), "latency_ms": 6.0, "degraded": True,
    ...               "reasons": ["triton_timeout", "list_price"]}),
    ...     (DLQ, {"received_at": t(2), "error": "invalid_json: oops"}),
    ... ]
    >>> report = summarize_run(run, bin_s=1)
    >>> s = report.summary
    >>> s.events_decided, s.decisions, s.bids, s.passes, s.pass_reasons, s.dlq_reasons
    (2, {'bids': 2, 'prices': 1, 'fraud': 0}, 1, 1, {'below_floor': 1}, {'invalid_json': 1})
    >>> report.series.starts_s, report.series.decisions_per_s["bids"], report.series.p50_ms[:2]
    ([0.0, 1.0, 2.0], [1.0, 1.0, 0.0], [4.0, 7.0])
    """
    dated: list[tuple[datetime, str, dict[str, Any]]] = []
    for topic, value in records:
        name = "decided_at" if topic in DECISION_NAMES else TIME_FIELDS.get(topic)
        when = _when(value, name) if name and isinstance(value, dict) else None
        if when is not None:
            dated.append((when, topic, value))
    dated.sort(key=lambda item: item[0])
    start = dated[0][0] if dated else None
    end = dated[-1][0] if dated else None
    span_s = (end - start).total_seconds() if start and end else 0.0
    width = float(bin_s if bin_s is not None else bin_seconds(span_s))
    n_bins = int(span_s // width) + 1 if dated else 0

    counts = {name: [0] * n_bins for name in TYPES}
    dlq_counts = [0] * n_bins
    latencies: list[list[float]] = [[] for _ in range(n_bins)]
    degraded_counts = [0] * n_bins
    bid_counts, bid_made = [0] * n_bins, [0] * n_bins
    decisions, degraded = Counter[str](), Counter[str]()
    fraud_actions, pass_reasons, price_reasons, arms, dlq_reasons = (Counter[str]() for _ in range(5))
    event_ids: set[str] = set()
    all_latencies: list[float] = []
    markers: list[Marker] = []
    bids = passes = drift_alerts = model_events = 0

    for when, topic, value in dated:
        t_s = (when - start).total_seconds() if start else 0.0
        i = min(int(t_s // width), n_bins - 1)
        if topic == DLQ:
            dlq_counts[i] += 1
            dlq_reasons[dlq_reason(str(value.get("error", "")))] += 1
            continue
        if topic in (DRIFT_ALERTS, MODEL_EVENTS):
            kind: Literal["drift_alert", "model_event"] = "drift_alert" if topic == DRIFT_ALERTS else "model_event"
            drift_alerts += topic == DRIFT_ALERTS
            model_events += topic == MODEL_EVENTS
            markers.append(Marker(t_s, when, kind, str(value.get("model", "?")), _marker_label(topic, value)))
            continue
        name = DECISION_NAMES[topic]
        counts[name][i] += 1
        decisions[name] += 1
        event_ids.add(str(value.get("event_id")))
        latency = float(value.get("latency_ms", 0.0))
        latencies[i].append(latency)
        all_latencies.append(latency)
        if value.get("degraded"):
            degraded[name] += 1
            degraded_counts[i] += 1
        reasons = [str(r) for r in value.get("reasons") or ()]
        if topic == FRAUD:
            fraud_actions[str(value.get("action"))] += 1
        elif topic == BIDS:
            bid_counts[i] += 1
            if float(value.get("bid_cpm") or 0.0) > 0:
                bids += 1
                bid_made[i] += 1
            else:
                passes += 1
                pass_reasons.update(reasons or ["none"])
        else:
            price_reasons.update(reasons or ["none"])
            experiment = value.get("experiment")
            if isinstance(experiment, dict):
                arms[f"{experiment.get('name')}:{experiment.get('arm')}"] += 1

    decided_per_bin = [sum(counts[name][i] for name in TYPES) for i in range(n_bins)]
    series = Series(
        bin_s=width,
        starts_s=[i * width for i in range(n_bins)],
        decisions_per_s={name: [c / width for c in counts[name]] for name in TYPES},
        dlq_per_s=[c / width for c in dlq_counts],
        p50_ms=[float(np.percentile(v, 50)) if v else math.nan for v in latencies],
        p99_ms=[float(np.percentile(v, 99)) if v else math.nan for v in latencies],
        degraded_share=[_ratio(d, n) for d, n in zip(degraded_counts, decided_per_bin)],
        bid_rate=[_ratio(b, n) for b, n in zip(bid_made, bid_counts)],
    )
    summary = RunSummary(
        started_at=start,
        ended_at=end,
        events_decided=len(event_ids),
        decisions={name: decisions[name] for name in TYPES},
        degraded={name: degraded[name] for name in TYPES},
        p50_ms=percentile_ms(all_latencies, 50),
        p99_ms=percentile_ms(all_latencies, 99),
        fraud_actions=dict(fraud_actions.most_common()),
        bids=bids,
        passes=passes,
        pass_reasons=dict(pass_reasons.most_common()),
        price_reasons=dict(price_reasons.most_common()),
        experiment_arms=dict(arms.most_common()),
        dlq_reasons=dict(dlq_reasons.most_common()),
        drift_alerts=drift_alerts,
        model_events=model_events,
    )
    return RunReport(summary=summary, series=series, markers=markers)
