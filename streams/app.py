"""Build the Faust app and its topics from settings (nothing else happens here)."""

from __future__ import annotations

from dataclasses import dataclass

import faust
from mode.utils.queues import FlowControlQueue

from schemas.codec import register_faust_codec
from streams.fetch_wait import set_fetch_max_wait
from streams.gc_policy import apply_gc_policy
from streams.logs import logging_config
from streams.seek_safe import use_seek_safe_consumer
from streams.security import faust_credentials
from streams.settings import Settings
from streams.topics import DECISION_TOPICS, DLQ, DRIFT_ALERTS, EVENT_TOPICS, LABELLED, MODEL_EVENTS

SESSION_TIMEOUT_S = 6.0
HEARTBEAT_S = 0.5
FETCH_HEADROOM = 4
MS_PER_S = 1000.0


def poll_records(buffer_max: int, partitions: int) -> int:
    """Most records one consumer poll hands to the streams, so that no stream's buffer fills up.

    Faust's drain loop hands a poll's records to their streams one by one, and waits when a
    stream's queue (``buffer_max``) is full, holding back every other stream: at saturation,
    clicks went undecided for 5 s while the searches waited for their query intents
    (BENCHMARKS.md). Faust stops fetching a partition once a record of it finds its stream's
    queue holding ``buffer_max / 1.25`` records, but the poll being delivered still goes in
    whole, and each of the stream's ``partitions`` is stopped by its own next record, in this
    poll or a later one. Polls no larger than the room above that mark shared by the partitions
    always fit, so a slow stream only stops its own partitions.

    Examples
    --------
    >>> poll_records(16_384, 4)
    819
    >>> poll_records(1, 4)
    1
    """
    high_pressure = int(buffer_max / FlowControlQueue.pressure_high_ratio)
    return max(1, (buffer_max - high_pressure) // partitions)


@dataclass(frozen=True)
class AppTopics:
    """The Faust topic objects the agents read and write."""

    inputs: dict[str, faust.TopicT]
    outputs: dict[str, faust.TopicT]


def create_app(settings: Settings) -> tuple[faust.App, AppTopics]:
    """The Faust app for ``settings`` with the contract's topics declared.

    Input topics are raw bytes (ingest decodes them, so bad messages can be
    dead-lettered); output topics use the ``orjson`` codec.
    """
    register_faust_codec()
    set_fetch_max_wait(settings.fetch_max_wait_ms)
    max_bytes = settings.max_message_bytes * FETCH_HEADROOM
    # A dead letter holds at most dlq_payload_max_bytes of payload, at most doubled by encoding.
    max_request = max(settings.max_message_bytes, settings.dlq_payload_max_bytes) * FETCH_HEADROOM
    app = faust.App(
        settings.app_id,
        broker=settings.kafka_url,
        broker_credentials=faust_credentials(settings),
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        topic_replication_factor=settings.topic_replication,
        topic_partitions=settings.topic_partitions,
        web_enabled=False,
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=HEARTBEAT_S,
        producer_max_request_size=max_request,
        producer_linger=settings.producer_linger_ms / MS_PER_S,
        consumer_max_fetch_size=max_bytes,
        stream_buffer_maxsize=settings.batching.buffer_max,
        broker_max_poll_records=poll_records(settings.batching.buffer_max, settings.topic_partitions),
        consumer_auto_offset_reset="earliest",
        autodiscover=False,
    )
    use_seek_safe_consumer(app, eager=settings.eager_delivery)
    inputs = {
        name: app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        for name in EVENT_TOPICS
    }
    outputs = {
        name: app.topic(name, key_serializer="raw", value_serializer="orjson")
        for name in (*DECISION_TOPICS, DLQ, DRIFT_ALERTS, MODEL_EVENTS, LABELLED)
    }
    return app, AppTopics(inputs=inputs, outputs=outputs)


def faust_worker(app: faust.App, settings: Settings) -> faust.Worker:
    """The Faust worker that runs ``app``, logging JSON lines at ``settings.log_level`` and nothing below it.

    Faust's terminal spinner is switched off: to spin on every log record it sets the
    root logger to DEBUG (at any level from WARN up), so every ``log.debug`` of aiokafka
    and Faust built a record that the handler then dropped, about 8 % of the worker's
    event loop at 150 events/s. The garbage collector's young-generation threshold is
    set here too (:mod:`streams.gc_policy`), for the decision worker and the bench's passthrough alike.
    """
    apply_gc_policy(settings.gc)
    worker = faust.Worker(app, loglevel=settings.log_level, logging_config=logging_config(settings.log_level), quiet=True)
    worker.spinner = None
    return worker
