"""Ingest agents: decode every input record, dead-letter the bad ones, decide the rest.

One agent per input topic takes micro-batches (:func:`~streams.take_ahead.take_ahead`), so each batch
costs at most one Triton request per model. A bad message becomes an
``ops.dlq`` record and the agent goes on; offsets are acknowledged only after
the batch's decisions and table changelog records were handed to the producer
(at-least-once). Profiles and budget spend live in Faust tables (changelog-backed,
co-partitioned with the input topics by ``user_id``); each batch updates them
before it is decided.
A batch whose deciding raises is decided again one event at a time; an event
that raises alone goes to ``ops.dlq`` (``decision_failed``) and the rest are decided.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

import faust

from agents.context import DecisionContext, Incoming
from agents.learning.loop import LearningOutput
from agents.route import decide_batch
from agents.tables import ChangelogRecords, declare_tables, declare_velocity_table
from schemas.codec import dead_letter, decode_event
from schemas.errors import DecodeError
from schemas.ops import DlqRecord
from schemas.pii import mask_model, mask_text, model_may_hold_pii, raw_may_hold_pii
from schemas.reasons import DlqReason
from streams.app import AppTopics
from streams.produce import Record, RecordSender
from streams.take_ahead import take_ahead
from streams.topics import DLQ, DRIFT_ALERTS, EVENT_TOPICS, LABELLED

log = logging.getLogger("streamdecide.ingest")

LearnedHook = Callable[[LearningOutput], Awaitable[None]]

FAILURE_DETAIL_CHARS = 200
"""Characters of an exception's message kept in a ``decision_failed`` dead letter and its log line."""


def split_batch(
    events: Sequence[faust.EventT], ctx: DecisionContext
) -> tuple[list[Incoming], list[DlqRecord]]:
    """Decode a batch of raw records into events to decide and DLQ records.

    Personal data (e-mail addresses, card numbers, IP addresses) in the events'
    text fields and in dead letters is replaced by keyed hashes here, so no
    decision, table, log line or DLQ record carries it raw.
    """
    good: list[Incoming] = []
    bad: list[DlqRecord] = []
    max_bytes = ctx.settings.max_message_bytes
    pii_key = ctx.settings.pii_key
    for event in events:
        message = event.message
        raw = message.value
        try:
            decoded = decode_event(raw, message.topic, max_bytes)
        except DecodeError as exc:
            bad.append(
                dead_letter(raw, message.key, message.topic, message.partition, message.offset, exc, ctx.clock(),
                            pii_key=pii_key, max_payload_bytes=ctx.settings.dlq_payload_max_bytes)
            )
            continue
        if raw_may_hold_pii(raw) and model_may_hold_pii(decoded):
            decoded = mask_model(decoded, pii_key)
        good.append(
            Incoming(
                decoded,
                received_ms=int(message.timestamp * 1000),
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                origin=event,
            )
        )
    return good, bad


async def publish_learning(ctx: DecisionContext, topics: AppTopics, on_learned: LearnedHook | None) -> None:
    """Send what the learning loop joined since the last batch: examples to ``ops.labelled``, alerts to drift."""
    if ctx.learning is None:
        return
    learned = ctx.learning.drain(ctx.clock())
    ctx.metrics.observe_labelled(learned.examples)
    ctx.metrics.set_learner_loss(ctx.learning.losses)
    for example in learned.examples:
        await topics.outputs[LABELLED].send(key=example.model.encode(), value=example)
    for alert in learned.alerts:
        log.warning("drift alert", extra={"model": alert.model, "detector": alert.detector, "signal": alert.signal,
                                          "statistic": alert.statistic, "n": alert.n_observations})  # fmt: skip
        await topics.outputs[DRIFT_ALERTS].send(key=alert.model.encode(), value=alert)
    if on_learned is not None and (learned.examples or learned.alerts):
        await on_learned(learned)


def withhold_acks(events: Sequence[faust.EventT]) -> None:
    """Keep Faust from acknowledging a batch that was not fully decided (at-least-once).

    :func:`~streams.take_ahead.take_ahead` acknowledges a batch only when the agent asks for
    the next one, but Faust's ``take_events`` acknowledged it in a ``finally``, also when the
    agent was cancelled (a stop) or raised in the middle of the batch, and a later commit
    then skipped events whose decisions were never sent. Marked acknowledged here, the
    messages can never reach the consumer's acked offsets, whoever acknowledges them, so
    their offsets are not committed and they are delivered again.
    """
    for event in events:
        event.message.acked = True


def failed_decision_letter(event: faust.EventT, exc: Exception, ctx: DecisionContext) -> DlqRecord:
    """The ``ops.dlq`` record for an event whose decision raised ``exc`` even on its own (reason ``decision_failed``).

    The error text names the exception's type and its message, personal data masked.
    """
    message = event.message
    error = DecodeError(DlqReason.DECISION_FAILED, f"{type(exc).__name__}: {str(exc)[:FAILURE_DETAIL_CHARS]}")
    return dead_letter(message.value, message.key, message.topic, message.partition, message.offset, error,
                       ctx.clock(), pii_key=ctx.settings.pii_key,
                       max_payload_bytes=ctx.settings.dlq_payload_max_bytes)  # fmt: skip


def dead_letter_summary(bad: Sequence[DlqRecord]) -> dict[str, object]:
    """One log line's fields for a batch's dead letters: counts by reason and the first one's coordinates.

    One line per batch, not per record: hostile traffic must not flood the logs (the
    records themselves are on ``ops.dlq``, the counts in the metrics).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> r = DlqRecord(source_topic="events.clicks", partition=0, offset=7, payload="x", payload_bytes=1,
    ...               error="invalid_json: x", received_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> dead_letter_summary([r, r.model_copy(update={"offset": 8})])
    {'count': 2, 'reasons': {'invalid_json': 2}, 'topic': 'events.clicks', 'partition': 0, 'offset': 7, 'error': 'invalid_json: x'}
    """
    first = bad[0]
    return {"count": len(bad), "reasons": dict(Counter(r.error.split(":", 1)[0] for r in bad)),
            "topic": first.source_topic, "partition": first.partition, "offset": first.offset,
            "error": first.error[:200]}  # fmt: skip


def register_ingest(
    app: faust.App,
    topics: AppTopics,
    ctx: DecisionContext,
    ready: asyncio.Event,
    on_learned: LearnedHook | None = None,
) -> list[faust.types.AgentT]:
    """Register one ingest agent per input topic; they start deciding once ``ready`` is set.

    Also declares the profile, spend and windowed velocity tables and puts them into ``ctx``.
    ``on_learned`` gets each batch's learning output after it was published
    (the worker stores examples and starts refits there).
    """
    changelog = ChangelogRecords()
    ctx.profiles, ctx.budget.spend = declare_tables(app, changelog)
    ctx.velocity = declare_velocity_table(app, ctx.settings.profiles)
    batching = ctx.settings.batching
    dlq = topics.outputs[DLQ]
    records = RecordSender(app)
    agents = []

    async def decide_and_send(events: Sequence[faust.EventT]) -> None:
        good, bad = split_batch(events, ctx)
        ctx.metrics.observe_dlq(bad)
        if bad:
            log.warning("dead-lettered", extra=dead_letter_summary(bad))
        for record in bad:
            await dlq.send(key=record.key.encode() if record.key else None, value=record)
        if not good:
            return
        ctx.metrics.observe_events(good)
        ctx.metrics.observe_wins(good, ctx.catalog.campaigns)
        outcomes = await decide_batch(good, ctx)
        ctx.metrics.observe_decisions(out.decision for out in outcomes)
        batch = [Record(change.topic, change.key, change.value, change.partition) for change in changelog.drain()]
        batch += [Record(out.topic, out.key.encode(), out.decision) for out in outcomes]
        await records.send_records(batch)
        await publish_learning(ctx, topics, on_learned)

    async def decide_one_by_one(events: Sequence[faust.EventT], failure: Exception) -> None:
        """After a batch raised: decide its events one at a time, dead-lettering those that raise alone.

        A bug triggered by one event must neither hold up its partition (an unacknowledged
        batch stops the commits behind it) nor take the rest of the batch down with it.
        As after a crash, the batch is processed again: decisions already sent are sent again
        (same ``decision_id``), dead letters again (same source offset), and table updates
        the failed attempt made are applied again.
        """
        first = events[0].message
        log.error("batch failed; deciding its events one by one",
                  extra={"topic": first.topic, "partition": first.partition, "offset": first.offset,
                         "events": len(events), "error": type(failure).__name__,
                         "detail": mask_text(str(failure)[:FAILURE_DETAIL_CHARS], ctx.settings.pii_key)})  # fmt: skip
        for event in events:
            try:
                await decide_and_send([event])
            except Exception as exc:  # noqa: BLE001 - any bug in deciding this event: it goes to the DLQ
                letter = failed_decision_letter(event, exc, ctx)
                ctx.metrics.observe_dlq([letter])
                log.error("decision failed; dead-lettered", extra=dead_letter_summary([letter]))
                await dlq.send(key=letter.key.encode() if letter.key else None, value=letter)

    for name in EVENT_TOPICS:

        async def ingest(stream: faust.StreamT) -> None:
            await ready.wait()
            async for events in take_ahead(stream, batching.max_size, batching.window_s, batching.read_ahead):
                ctx.metrics.observe_batch(events[0].message.topic, len(events))
                try:
                    try:
                        await decide_and_send(events)
                    except Exception as failure:  # noqa: BLE001 - isolate the event that raised
                        await decide_one_by_one(events, failure)
                except BaseException:
                    withhold_acks(events)
                    raise

        agents.append(app.agent(topics.inputs[name], name=f"ingest.{name}")(ingest))
    return agents
