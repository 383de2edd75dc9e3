"""Read a run's decision and ops topics once (beginning to the end offsets at start) and write its report."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from schemas.codec import loads
from schemas.errors import StreamdecideError
from streams.admin import kafka_client_kwargs
from streams.report import Record, RunReport, summarize_run
from streams.settings import Settings
from streams.topics import DECISION_TOPICS, DLQ, DRIFT_ALERTS, MODEL_EVENTS

LOG = logging.getLogger("streamdecide.report")

REPORT_TOPICS: tuple[str, ...] = (*DECISION_TOPICS, DLQ, DRIFT_ALERTS, MODEL_EVENTS)
POLL_MS = 500
MAX_RECORDS = 10_000
DEFAULT_READ_TIMEOUT_S = 120.0


class ReportReadTimeoutError(StreamdecideError, TimeoutError):
    """The topics were not read up to their end offsets in time; ``missing`` counts what was left."""

    def __init__(self, missing: dict[str, int], timeout_s: float) -> None:
        left = ", ".join(f"{topic}: {n}" for topic, n in sorted(missing.items()))
        super().__init__(f"report: records still unread after {timeout_s:g} s ({left})")
        self.missing = missing
        self.timeout_s = timeout_s


@dataclass(frozen=True)
class RunRecords:
    """What one bounded read returned."""

    records: list[Record]
    skipped: int
    """Records that were not a JSON object (tombstones, text from foreign writers)."""


async def read_run(
    bootstrap: str,
    topics: Sequence[str] = REPORT_TOPICS,
    *,
    client_kwargs: dict[str, Any] | None = None,
    timeout_s: float = DEFAULT_READ_TIMEOUT_S,
    max_message_bytes: int = 8_000_000,
) -> RunRecords:
    """Every record of ``topics`` up to their end offsets at start (no consumer group).

    A partition's end is the larger of the listed end offset and the high watermark of
    the first fetch response for it: tansu (the embedded broker) can list an end offset
    below the records it holds, and the fetch's high watermark is exact. Records
    appended after that first response are left out, so the read is bounded. Topics
    missing from the cluster are read as empty.

    Raises
    ------
    ReportReadTimeoutError
        When the ends are not reached within ``timeout_s``.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=max_message_bytes,
        fetch_max_bytes=max_message_bytes * 2,
        **(client_kwargs or {}),
    )
    try:
        await consumer.start()
        await consumer.topics()
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not parts:
            return RunRecords([], 0)
        consumer.assign(parts)
        listed = await consumer.end_offsets(parts)
        await consumer.seek_to_beginning(*parts)
        ends: dict[TopicPartition, int] = {}
        pending = set(parts)
        records: list[Record] = []
        skipped = 0

        def end_of(tp: TopicPartition) -> int | None:
            """The partition's end, fixed at the first fetch response that tells its high watermark."""
            if tp not in ends and (highwater := consumer.highwater(tp)) is not None:
                ends[tp] = max(listed[tp], highwater)
            return ends.get(tp)

        async def drain() -> None:
            nonlocal skipped
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=POLL_MS, max_records=MAX_RECORDS)
                for tp, messages in batch.items():
                    end = end_of(tp)
                    for message in messages:
                        if end is not None and message.offset >= end:
                            continue
                        try:
                            value = loads(message.value) if message.value is not None else None
                        except ValueError:
                            value = None
                        if isinstance(value, dict):
                            records.append((tp.topic, value))
                        else:
                            skipped += 1
                for tp in list(pending):
                    end = end_of(tp)
                    if end is not None and await consumer.position(tp) >= end:
                        pending.discard(tp)

        try:
            await asyncio.wait_for(drain(), timeout_s)
        except TimeoutError:
            missing: dict[str, int] = {}
            for tp in pending:
                left = ends.get(tp, listed[tp]) - await consumer.position(tp)
                missing[tp.topic] = missing.get(tp.topic, 0) + max(left, 0)
            raise ReportReadTimeoutError(missing, timeout_s) from None
        if skipped:
            LOG.warning("report skipped records that are not JSON objects", extra={"skipped": skipped})
        return RunRecords(records, skipped)
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class WrittenReport:
    """Where a report went and what it says."""

    html: Path
    png: Path
    report: RunReport
    skipped: int


async def write_run_report(settings: Settings, out: Path, *, bin_s: float | None = None,
                           timeout_s: float = DEFAULT_READ_TIMEOUT_S) -> WrittenReport:
    """Read the run from ``settings.kafka_bootstrap`` and write ``out`` (HTML) and its PNG next to it.

    Raises
    ------
    StreamdecideError
        Without a bootstrap, when the broker can't be read or its topics hold nothing to report, or
        when ``out`` can't be written.
    """
    from streams.report_html import render_html
    from streams.report_plot import render_png

    if not settings.kafka_bootstrap:
        raise StreamdecideError("report needs STREAMDECIDE_KAFKA_BOOTSTRAP (the broker holding the run)")
    try:
        run = await read_run(settings.kafka_bootstrap, client_kwargs=kafka_client_kwargs(settings),
                             timeout_s=timeout_s, max_message_bytes=max(settings.max_message_bytes * 4, 8_000_000))
    except KafkaError as exc:
        raise StreamdecideError(f"report: cannot read the run from {settings.kafka_bootstrap}: {exc}") from None
    if not run.records:
        raise StreamdecideError(
            f"nothing to report: {', '.join(REPORT_TOPICS)} at {settings.kafka_bootstrap} hold no records"
        )
    report = summarize_run(run.records, bin_s)
    png = out.with_suffix(".png")
    png_bytes = render_png(report)
    page = render_html(report, png_bytes, source=settings.kafka_bootstrap, png_name=png.name,
                       generated_at=datetime.now(UTC))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(png_bytes)
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise StreamdecideError(f"report: cannot write {out}: {exc.strerror or exc}") from None
    return WrittenReport(html=out, png=png, report=report, skipped=run.skipped)
