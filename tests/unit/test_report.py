"""The run report's pure part (records → series and totals), its figure and page, and the verb's errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.cli import main
from streams.report import Record, bin_seconds, summarize_run
from streams.report_html import render_html
from streams.report_plot import render_png
from streams.topics import BIDS, DLQ, DRIFT_ALERTS, FRAUD, LABELLED, MODEL_EVENTS, PRICES

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def decision(topic: str, event_id: str, t_s: float, latency_ms: float, **fields: Any) -> Record:
    value = {"event_id": event_id, "decided_at": at(t_s), "latency_ms": latency_ms, "degraded": False,
             "reasons": [], **fields}
    return topic, value


def hand_made_run() -> list[Record]:
    """Ten seconds: 2 s bins hold known decisions, two dead letters, an alert and a promotion."""
    return [
        # bin 0 (0-2 s): one bid, one pass, a price (degraded) for the same event as the pass
        decision(BIDS, "e1", 0.0, 10.0, bid_cpm=1.5, reasons=["model"]),
        decision(BIDS, "e2", 1.0, 20.0, bid_cpm=0.0, reasons=["below_floor"]),
        decision(PRICES, "e2", 1.5, 30.0, degraded=True, reasons=["triton_timeout", "list_price"],
                 experiment={"name": "pricing-v1", "arm": "list_price", "propensity": 0.5}),
        # bin 1 (2-4 s): two fraud decisions
        decision(FRAUD, "o1", 2.0, 40.0, action="allow"),
        decision(FRAUD, "o2", 3.9, 50.0, action="block", reasons=["high_risk"]),
        # bin 2 (4-6 s): nothing but a drift alert and a dead letter
        (DRIFT_ALERTS, {"model": "ctr", "detector": "adwin", "signal": "loss", "detected_at": at(4.5)}),
        (DLQ, {"error": "invalid_json: unexpected end", "received_at": at(5.0)}),
        # bin 4 (8-10 s): a pass for lack of a campaign, a dead letter, a model event at the very end
        decision(BIDS, "e3", 8.0, 60.0, bid_cpm=0.0, reasons=["no_campaign"]),
        (DLQ, {"error": "validation_error: ts: field required", "received_at": at(9.0)}),
        (MODEL_EVENTS, {"model": "ctr", "version": 3, "action": "promoted", "at": at(10.0)}),
        # ignored: another topic, and a record without a time
        (LABELLED, {"decided_at": at(100.0)}),
        (BIDS, {"event_id": "e9", "latency_ms": 1.0}),
    ]


def test_totals_of_a_hand_made_run() -> None:
    s = summarize_run(hand_made_run(), bin_s=2).summary
    assert (s.started_at, s.ended_at, s.duration_s) == (T0, T0 + timedelta(seconds=10), 10.0)
    assert s.decisions == {"bids": 3, "prices": 1, "fraud": 2}
    assert s.events_decided == 5  # e1, e2 (bid and price), e3, o1, o2
    assert s.degraded == {"bids": 0, "prices": 1, "fraud": 0} and s.degraded_share == pytest.approx(1 / 6)
    assert (s.bids, s.passes) == (1, 2)
    assert s.pass_reasons == {"below_floor": 1, "no_campaign": 1}
    assert s.price_reasons == {"triton_timeout": 1, "list_price": 1}
    assert s.experiment_arms == {"pricing-v1:list_price": 1}
    assert s.fraud_actions == {"allow": 1, "block": 1}
    assert s.dlq_reasons == {"invalid_json": 1, "validation_error": 1} and s.dlq == 2
    assert (s.drift_alerts, s.model_events) == (1, 1)
    assert (s.p50_ms, s.p99_ms) == (35.0, 59.5)  # numpy's linear percentiles of 10..60 ms
    as_dict = s.as_dict()
    assert as_dict["decisions"] == s.decisions and as_dict["degraded"] == 1 and as_dict["dlq"] == 2


def test_series_are_binned_per_second() -> None:
    series = summarize_run(hand_made_run(), bin_s=2).series
    assert series.starts_s == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]  # the model event at 10.0 opens a last bin
    assert series.decisions_per_s == {
        "bids": [1.0, 0.0, 0.0, 0.0, 0.5, 0.0],
        "prices": [0.5, 0.0, 0.0, 0.0, 0.0, 0.0],
        "fraud": [0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
    }
    assert series.dlq_per_s == [0.0, 0.0, 0.5, 0.0, 0.5, 0.0]
    assert series.p50_ms[:2] == [20.0, 45.0] and series.p99_ms[1] == pytest.approx(49.9)
    assert all(math.isnan(v) for v in series.p50_ms[2:4])  # no decisions: no latency, not zero
    assert series.degraded_share[0] == pytest.approx(1 / 3) and series.degraded_share[1] == 0.0
    assert series.bid_rate[0] == 0.5 and series.bid_rate[4] == 0.0 and math.isnan(series.bid_rate[1])


def test_alerts_and_model_events_are_markers_on_the_timeline() -> None:
    markers = summarize_run(hand_made_run(), bin_s=2).markers
    assert [(m.t_s, m.kind, m.label) for m in markers] == [
        (4.5, "drift_alert", "ctr adwin/loss"),
        (10.0, "model_event", "ctr v3 promoted"),
    ]


def test_automatic_bins_keep_a_readable_count() -> None:
    assert summarize_run(hand_made_run()).series.bin_s == 1
    for span_s in (1, 35, 59, 600, 3600, 86_400, 30 * 86_400):
        assert span_s / bin_seconds(span_s) <= 40 or bin_seconds(span_s) == 86_400


def test_an_empty_run_has_no_bins_and_zero_totals() -> None:
    report = summarize_run([])
    assert report.series.starts_s == [] and report.summary.total_decisions == 0
    assert report.summary.started_at is None and report.summary.p99_ms == 0.0


def test_figure_and_page_carry_the_run() -> None:
    report = summarize_run(hand_made_run(), bin_s=2)
    png = render_png(report)
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000
    page = render_html(report, png, source="127.0.0.1:9", png_name="report.png", generated_at=T0)
    assert "data:image/png;base64,iVBORw0KGgo" in page
    assert '<tr data-key="decisions.fraud"><th>decisions: fraud</th><td class="n">2</td></tr>' in page
    assert '<tr data-key="dlq"><th>dead letters (ops.dlq)</th><td class="n">2</td></tr>' in page
    assert "ctr v3 promoted" in page and "ctr adwin/loss" in page


def test_a_run_without_decisions_still_draws() -> None:
    only_ops = [(DLQ, {"error": "invalid_json: x", "received_at": at(0)})]
    assert render_png(summarize_run(only_ops)).startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("argv", "env", "needle"),
    [
        (["report", "--out", "r.png"], {"STREAMDECIDE_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, "must end in .html"),
        (["report"], {}, "STREAMDECIDE_KAFKA_BOOTSTRAP"),
    ],
)
def test_report_verb_errors_are_one_line(
    argv: list[str], env: dict[str, str], needle: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("STREAMDECIDE_KAFKA_BOOTSTRAP", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir("/")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


def test_report_bad_bin_width_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["report", "--bin-seconds", "0"])
    assert info.value.code == 2 and "--bin-seconds" in capsys.readouterr().err
