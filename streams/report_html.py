"""The report page: one self-contained HTML file (inline CSS, the PNG embedded as a data URI)."""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape

from streams.report import TYPES, RunReport

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1450px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; }
.muted { color: #666; font-size: 0.9em; }
img { max-width: 100%; border: 1px solid #ddd; }
"""


def _row(label: str, value: object, *, key: str | None = None) -> str:
    data = f' data-key="{escape(key)}"' if key else ""
    return f"<tr{data}><th>{escape(label)}</th><td class=\"n\">{escape(str(value))}</td></tr>"


def _percent(share: float) -> str:
    """
    Examples
    --------
    >>> _percent(0.0123), _percent(0.0)
    ('1.2%', '0.0%')
    """
    return f"{100 * share:.1f}%"


def _counts_table(title: str, counts: dict[str, int], what: str) -> str:
    if not counts:
        return f"<h2>{escape(title)}</h2><p class=\"muted\">none</p>"
    total = sum(counts.values())
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td class=\"n\">{n}</td><td class=\"n\">{_percent(n / total)}</td></tr>"
        for name, n in counts.items()
    )
    return (f"<h2>{escape(title)}</h2><table><tr><th>{escape(what)}</th><th>count</th><th>share</th></tr>"
            f"{rows}</table>")


def render_html(report: RunReport, png: bytes, *, source: str, png_name: str, generated_at: datetime) -> str:
    """The report page for ``report`` with ``png`` embedded.

    Parameters
    ----------
    source
        Where the records came from (the Kafka bootstrap).
    png_name
        File name of the same PNG next to the page, for a link.
    generated_at
        When the report was written (shown, not computed here).

    Examples
    --------
    >>> from streams.report import summarize_run
    >>> page = render_html(summarize_run([]), b"png", source="127.0.0.1:1", png_name="r.png",
    ...                    generated_at=datetime(2026, 1, 1))
    >>> 'data:image/png;base64,cG5n' in page, '<tr data-key="events_decided"><th>events decided</th>' in page
    (True, True)
    """
    s = report.summary
    started = s.started_at.isoformat(timespec="seconds") if s.started_at else "—"
    ended = s.ended_at.isoformat(timespec="seconds") if s.ended_at else "—"
    total = s.total_decisions
    summary_rows = [
        _row("run", f"{started} → {ended} ({s.duration_s:.1f} s)"),
        _row("events decided", s.events_decided, key="events_decided"),
        _row("decisions", total, key="decisions"),
        *(_row(f"decisions: {name}", s.decisions[name], key=f"decisions.{name}") for name in TYPES),
        _row("degraded (fallback decided)", f"{sum(s.degraded.values())} ({_percent(s.degraded_share)})",
             key="degraded"),
        _row("latency p50 (ms)", f"{s.p50_ms:g}", key="p50_ms"),
        _row("latency p99 (ms)", f"{s.p99_ms:g}", key="p99_ms"),
        _row("bids / passes", f"{s.bids} / {s.passes}", key="bids_passes"),
        _row("dead letters (ops.dlq)", s.dlq, key="dlq"),
        _row("drift alerts", s.drift_alerts, key="drift_alerts"),
        _row("model events", s.model_events, key="model_events"),
    ]
    per_type = "".join(
        f"<tr><td>{name}</td><td class=\"n\">{s.decisions[name]}</td><td class=\"n\">{s.degraded[name]}</td>"
        f"<td class=\"n\">{_percent(s.degraded[name] / s.decisions[name] if s.decisions[name] else 0.0)}</td>"
        f"<td class=\"n\">{s.decisions[name] / s.duration_s if s.duration_s else 0.0:.1f}</td></tr>"
        for name in TYPES
    )
    timeline = "".join(
        f"<tr><td>{escape(m.at.isoformat(timespec='seconds'))}</td><td class=\"n\">{m.t_s:.1f}</td>"
        f"<td>{'drift alert' if m.kind == 'drift_alert' else 'model event'}</td><td>{escape(m.label)}</td></tr>"
        for m in report.markers
    )
    timeline_html = (
        "<table><tr><th>at</th><th>t (s)</th><th>kind</th><th>what</th></tr>" + timeline + "</table>"
        if timeline else '<p class="muted">no drift alerts or model events in this run</p>'
    )
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>streamdecide run report</title>
<style>{STYLE}</style></head><body>
<h1>streamdecide run report</h1>
<p class="muted">Read from <code>{escape(source)}</code> (decision topics, ops.dlq, ops.drift-alerts,
ops.model-events, from the beginning to their end offsets) at {escape(generated_at.isoformat(timespec="seconds"))}.
Times are the records' own: <code>decided_at</code>, <code>received_at</code>, <code>detected_at</code>,
<code>at</code>.</p>
<h2>Summary</h2>
<table>{''.join(summary_rows)}</table>
<h2>Per decision type</h2>
<table><tr><th>type</th><th>decisions</th><th>degraded</th><th>degraded share</th><th>mean decisions/s</th></tr>
{per_type}</table>
<h2>Over time</h2>
<p><img alt="throughput, latency and decision mix over time; fraud actions, bids vs passes, price reasons and
dead letters by reason" src="data:image/png;base64,{image}"></p>
<p class="muted">The same figure: <a href="{escape(png_name)}">{escape(png_name)}</a>.</p>
<h2>Drift alerts and model events</h2>
{timeline_html}
{_counts_table("Fraud actions", s.fraud_actions, "action")}
{_counts_table("Bid passes by reason", s.pass_reasons, "reason")}
{_counts_table("Price decisions by reason", s.price_reasons, "reason")}
{_counts_table("Pricing experiment arms", s.experiment_arms, "experiment:arm")}
{_counts_table("Dead letters by reason", s.dlq_reasons, "reason")}
</body></html>
"""
