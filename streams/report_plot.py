"""Draw a :class:`~streams.report.RunReport` as one PNG.

matplotlib's object API on an Agg canvas: no pyplot state, no display needed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator

from streams.report import Marker, RunReport

DPI = 100
FIGSIZE_IN = (14.0, 18.0)
TYPE_COLORS = {"bids": "tab:blue", "prices": "tab:green", "fraud": "tab:purple"}
ACTION_COLORS = {"allow": "tab:green", "review": "tab:orange", "block": "tab:red"}
ALERT_COLOR = "tab:red"
MODEL_EVENT_COLOR = "tab:cyan"
MAX_MARKER_LABELS = 12
MAX_BARS = 8
LOG_LATENCY_RATIO = 20.0


def time_unit(span_s: float) -> tuple[str, float]:
    """Unit and divisor for a time axis of ``span_s`` seconds.

    Examples
    --------
    >>> time_unit(40), time_unit(3600), time_unit(2 * 86400)
    (('s', 1.0), ('min', 60.0), ('h', 3600.0))
    """
    if span_s <= 600:
        return "s", 1.0
    if span_s <= 6 * 3600:
        return "min", 60.0
    return "h", 3600.0


def plural(n: int, noun: str) -> str:
    """
    Examples
    --------
    >>> plural(1, "drift alert"), plural(0, "model event")
    ('1 drift alert', '0 model events')
    """
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _mark_timeline(ax: Axes, markers: Sequence[Marker], divisor: float, *, label: bool) -> None:
    """Vertical lines at drift alerts and model events; labels on the top panel only."""
    for marker in markers:
        color = ALERT_COLOR if marker.kind == "drift_alert" else MODEL_EVENT_COLOR
        style = "--" if marker.kind == "drift_alert" else ":"
        ax.axvline(marker.t_s / divisor, color=color, linestyle=style, linewidth=1.2, alpha=0.9)
        if label and len(markers) <= MAX_MARKER_LABELS:
            ax.annotate(marker.label, xy=(marker.t_s / divisor, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(2, -4), textcoords="offset points", rotation=90, va="top", fontsize=8,
                        color=color, bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})


def _marker_legend_handles(markers: Sequence[Marker]) -> list[Line2D]:
    handles = []
    if any(m.kind == "drift_alert" for m in markers):
        handles.append(Line2D([], [], color=ALERT_COLOR, linestyle="--", label="drift alert"))
    if any(m.kind == "model_event" for m in markers):
        handles.append(Line2D([], [], color=MODEL_EVENT_COLOR, linestyle=":", label="model event"))
    return handles


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(ax: Axes, title: str, counts: dict[str, int], total: int, xlabel: str,
          colors: dict[str, str] | None = None) -> None:
    """Horizontal bars of the largest ``counts``, each labelled with its value and its share of ``total``."""
    ax.set_title(title, fontsize=11)
    if not counts:
        _empty(ax, "none")
        return
    items = sorted(counts.items(), key=lambda kv: -kv[1])[:MAX_BARS]
    names = [k for k, _ in items][::-1]
    values = [v for _, v in items][::-1]
    bar_colors = [(colors or {}).get(n, "tab:gray") for n in names]
    bars = ax.barh(names, values, color=bar_colors)
    for bar, value in zip(bars, values):
        share = 100 * value / max(total, 1)
        ax.annotate(f" {value} ({share:.1f}%)" if 0 < share < 10 else f" {value} ({share:.0f}%)",
                    xy=(bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center", fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, max(values) * 1.45)
    ax.tick_params(axis="y", labelsize=9)


def draw_report(report: RunReport) -> Figure:
    """The report figure: throughput, latency and decision mix over time, then the mix and DLQ totals."""
    s, series, markers = report.summary, report.series, report.markers
    unit, divisor = time_unit(s.duration_s)
    x = [(start + series.bin_s / 2) / divisor for start in series.starts_s]
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(5, 2, height_ratios=[3.2, 3.0, 2.4, 2.1, 2.1])
    ax_rate = fig.add_subplot(grid[0, :])
    ax_lat = fig.add_subplot(grid[1, :], sharex=ax_rate)
    ax_mix = fig.add_subplot(grid[2, :], sharex=ax_rate)
    started = f"{s.started_at:%Y-%m-%d %H:%M:%S %Z}" if s.started_at else "no records"
    fig.suptitle(f"streamdecide run from {started}: {s.duration_s:.0f} s, {plural(s.total_decisions, 'decision')}, "
                 f"{plural(s.dlq, 'dead letter')}, {plural(s.drift_alerts, 'drift alert')}, "
                 f"{plural(s.model_events, 'model event')}", fontsize=13)
    bin_text = f"{series.bin_s:g} s bins"

    ax_rate.set_title(f"Throughput: decisions per second by type ({bin_text})", fontsize=11, loc="left", pad=22)
    if s.total_decisions or s.dlq:
        for name in ("bids", "prices"):
            ax_rate.plot(x, series.decisions_per_s[name], marker="o", markersize=3, color=TYPE_COLORS[name],
                         label=f"{name} ({s.decisions[name]})")
        if s.dlq:
            ax_rate.plot(x, series.dlq_per_s, marker="x", markersize=4, color="black", linestyle="-",
                         linewidth=0.8, label=f"DLQ ({s.dlq})")
        ax_rate.set_ylabel("bid and price decisions / s" + (", DLQ messages / s" if s.dlq else ""))
        ax_rate.set_ylim(bottom=0)
        # Orders are rare next to views and searches: fraud gets its own scale, on the right.
        ax_fraud = ax_rate.twinx()
        ax_fraud.plot(x, series.decisions_per_s["fraud"], marker="o", markersize=3, color=TYPE_COLORS["fraud"],
                      linestyle="--", label=f"fraud ({s.decisions['fraud']}, right axis)")
        ax_fraud.set_ylabel("fraud decisions / s", color=TYPE_COLORS["fraud"])
        ax_fraud.tick_params(axis="y", colors=TYPE_COLORS["fraud"])
        ax_fraud.set_ylim(bottom=0, top=max(max(series.decisions_per_s["fraud"], default=0.0) * 1.15, 0.5))
        _mark_timeline(ax_rate, markers, divisor, label=True)
        handles = ax_rate.get_legend_handles_labels()[0] + ax_fraud.get_legend_handles_labels()[0]
        ax_rate.legend(handles=handles + _marker_legend_handles(markers), loc="lower left", bbox_to_anchor=(0.0, 1.0),
                       fontsize=9, ncols=7, frameon=False, borderaxespad=0.1)
    else:
        _empty(ax_rate, "no decisions")

    ax_lat.set_title(f"Event → decision latency per bin (decision's latency_ms, all types; overall p50 "
                     f"{s.p50_ms:g} ms, p99 {s.p99_ms:g} ms)", fontsize=11, loc="left")
    finite = [v for v in series.p50_ms + series.p99_ms if not math.isnan(v)]
    if finite:
        ax_lat.plot(x, series.p50_ms, marker="o", markersize=3, color="tab:blue", label="p50")
        ax_lat.plot(x, series.p99_ms, marker="o", markersize=3, color="tab:red", label="p99")
        positive = [v for v in finite if v > 0]
        if positive and max(positive) / min(positive) > LOG_LATENCY_RATIO:
            ax_lat.set_yscale("log")
            ax_lat.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax_lat.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
            ax_lat.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
        else:
            ax_lat.set_ylim(bottom=0)
        ax_lat.set_ylabel("latency (ms, log scale)" if ax_lat.get_yscale() == "log" else "latency (ms)")
        _mark_timeline(ax_lat, markers, divisor, label=False)
        ax_lat.legend(loc="best", fontsize=9)
        ax_lat.grid(True, which="major", alpha=0.3)
    else:
        _empty(ax_lat, "no decisions")

    ax_mix.set_title("Decision mix per bin: share of bid decisions that bid, share of all decisions degraded",
                     fontsize=11, loc="left")
    if s.total_decisions:
        ax_mix.plot(x, [100 * v for v in series.bid_rate], marker="o", markersize=3, color="tab:blue",
                    label=f"bid rate (bids / bid decisions; overall {100 * s.bids / max(s.bids + s.passes, 1):.1f}%)")
        ax_mix.plot(x, [100 * v for v in series.degraded_share], marker="o", markersize=3, color="tab:orange",
                    label=f"degraded (fallback decided; overall {100 * s.degraded_share:.1f}%)")
        ax_mix.set_ylim(-3, 103)
        ax_mix.set_ylabel("% of decisions")
        _mark_timeline(ax_mix, markers, divisor, label=False)
        ax_mix.legend(loc="best", fontsize=9)
    else:
        _empty(ax_mix, "no decisions")
    ax_mix.set_xlabel(f"time since the first record ({unit})")
    for ax in (ax_rate, ax_lat):
        ax.tick_params(labelbottom=False)
    for ax in (ax_rate, ax_lat, ax_mix):
        ax.grid(True, alpha=0.3)

    bid_outcomes = {"bid": s.bids, **{f"pass: {r}": n for r, n in s.pass_reasons.items()}} if s.bids + s.passes else {}
    _bars(fig.add_subplot(grid[3, 0]), f"Fraud actions ({plural(s.decisions['fraud'], 'order')})", s.fraud_actions,
          s.decisions["fraud"], "decisions (% of fraud decisions)", ACTION_COLORS)
    _bars(fig.add_subplot(grid[3, 1]), f"Bids vs passes, with pass reasons ({plural(s.decisions['bids'], 'ad slot')})",
          bid_outcomes, s.decisions["bids"], "bid decisions (% of bid decisions)", {"bid": "tab:blue"})
    _bars(fig.add_subplot(grid[4, 0]), f"Price decisions by reason ({s.decisions['prices']})", s.price_reasons,
          s.decisions["prices"], "decisions carrying the reason (% of price decisions)")
    _bars(fig.add_subplot(grid[4, 1]), f"Dead letters by reason ({s.dlq})", s.dlq_reasons, s.dlq,
          "messages (% of dead letters)")
    return fig


def render_png(report: RunReport) -> bytes:
    """The report figure as PNG bytes."""
    buffer = io.BytesIO()
    draw_report(report).savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
