"""Kafka client options from :class:`~streams.settings.Settings`, and idempotent topic creation.

Used with the embedded broker and with a real Kafka alike. Topics are listed with a
metadata request for *all* topics: asking for named topics would let a broker with
auto-creation (tansu does it) create them with its default layout first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.helpers import create_ssl_context

from schemas.errors import StreamdecideError
from streams.settings import Settings
from streams.topics import TopicSpec

LOG = logging.getLogger("streamdecide.admin")

TOPIC_ALREADY_EXISTS = 36
NO_ERROR = 0
COMPACT_CONFIG = {"cleanup.policy": "compact"}
DEFAULT_TOPICS_TIMEOUT_S = 30.0
METADATA_POLL_S = 0.1
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
SSL_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})


class KafkaSettingsError(StreamdecideError):
    """The Kafka security settings are incomplete; ``setting`` names the missing variable."""

    def __init__(self, setting: str, protocol: str) -> None:
        super().__init__(f"{setting} must be set when STREAMDECIDE_KAFKA_SECURITY_PROTOCOL={protocol}")
        self.setting = setting
        self.protocol = protocol


class TopicsNotReadyError(StreamdecideError, TimeoutError):
    """Topics did not show up in the cluster metadata in time; ``topics`` lists them."""

    def __init__(self, topics: list[str], timeout_s: float) -> None:
        super().__init__(f"topics {topics} not in the cluster metadata after {timeout_s:g} s")
        self.topics = topics
        self.timeout_s = timeout_s


class TopicCreationError(StreamdecideError):
    """The broker refused to create a topic; carries its Kafka error code and message."""

    def __init__(self, topic: str, error_code: int, message: str | None) -> None:
        super().__init__(f"creating topic {topic!r} failed with Kafka error {error_code}: {message}")
        self.topic = topic
        self.error_code = error_code
        self.message = message


def kafka_client_kwargs(settings: Settings) -> dict[str, Any]:
    """Security options of ``settings`` as keyword arguments of aiokafka clients.

    Examples
    --------
    >>> kafka_client_kwargs(Settings(_env_file=None))
    {'security_protocol': 'PLAINTEXT'}
    >>> s = Settings(_env_file=None, kafka_security_protocol="SASL_PLAINTEXT",
    ...              kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username="u", kafka_sasl_password="p")
    >>> sorted(kafka_client_kwargs(s).items())  # doctest: +NORMALIZE_WHITESPACE
    [('sasl_mechanism', 'SCRAM-SHA-256'), ('sasl_plain_password', 'p'),
     ('sasl_plain_username', 'u'), ('security_protocol', 'SASL_PLAINTEXT')]
    >>> type(kafka_client_kwargs(Settings(_env_file=None, kafka_security_protocol="SSL"))["ssl_context"])
    <class 'ssl.SSLContext'>
    >>> kafka_client_kwargs(Settings(_env_file=None, kafka_security_protocol="SASL_SSL"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streams.admin.KafkaSettingsError: STREAMDECIDE_KAFKA_SASL_MECHANISM must be set when ...=SASL_SSL
    """
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if protocol in SASL_PROTOCOLS:
        sasl = (
            ("sasl_mechanism", settings.kafka_sasl_mechanism, "STREAMDECIDE_KAFKA_SASL_MECHANISM"),
            ("sasl_plain_username", settings.kafka_sasl_username, "STREAMDECIDE_KAFKA_SASL_USERNAME"),
            ("sasl_plain_password", settings.kafka_sasl_password, "STREAMDECIDE_KAFKA_SASL_PASSWORD"),
        )
        for key, value, setting in sasl:
            if value is None:
                raise KafkaSettingsError(setting, protocol)
            kwargs[key] = value
    if protocol in SSL_PROTOCOLS:
        kwargs["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )
    return kwargs


def _new_topic(spec: TopicSpec, replication_factor: int) -> NewTopic:
    configs = COMPACT_CONFIG if spec.compacted else {}
    return NewTopic(spec.name, spec.partitions, replication_factor, topic_configs=dict(configs))


async def ensure_topics(
    bootstrap: str,
    specs: Sequence[TopicSpec],
    *,
    replication_factor: int = 1,
    timeout: float = DEFAULT_TOPICS_TIMEOUT_S,
    **client_kwargs: Any,
) -> dict[str, int]:
    """Create the missing topics of ``specs`` and wait until metadata shows them all.

    Existing topics are left as they are (a wrong partition count is logged as a
    warning); "already exists" (error 36) from a concurrent creator is not an error.

    Parameters
    ----------
    bootstrap
        ``host:port[,host:port]`` of the cluster.
    specs
        Topics to ensure (name, partitions, compacted).
    replication_factor
        Replication of created topics (1 for the embedded broker).
    timeout
        Longest wait for the topics to show up in metadata, in seconds.
    **client_kwargs
        Passed to ``AIOKafkaAdminClient``, e.g. from :func:`kafka_client_kwargs`.

    Returns
    -------
    dict of str to int
        Partition count of every topic in ``specs`` as the cluster reports it.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            response = await admin.create_topics([_new_topic(spec, replication_factor) for spec in missing])
            for topic, error_code, message in response.topic_errors:
                if error_code not in (NO_ERROR, TOPIC_ALREADY_EXISTS):
                    raise TopicCreationError(topic, error_code, message)
            LOG.info("created topics %s", ", ".join(spec.name for spec in missing))
        partitions = await _wait_for_topics(admin, [spec.name for spec in specs], timeout)
    finally:
        await admin.close()
    for spec in specs:
        if partitions[spec.name] != spec.partitions:
            LOG.warning("topic %s has %d partitions, expected %d", spec.name, partitions[spec.name], spec.partitions)
    return partitions


async def _wait_for_topics(admin: AIOKafkaAdminClient, names: list[str], timeout: float) -> dict[str, int]:
    """Poll metadata until every topic in ``names`` is listed with its partitions."""
    deadline = time.monotonic() + timeout
    while True:
        missing = sorted(set(names) - set(await admin.list_topics()))
        if not missing:
            described = await admin.describe_topics(names)
            partitions = {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == NO_ERROR}
            missing = [name for name in names if not partitions.get(name)]
            if not missing:
                return partitions
        if time.monotonic() >= deadline:
            raise TopicsNotReadyError(missing, timeout)
        await asyncio.sleep(METADATA_POLL_S)


class PartitionsMismatchError(StreamdecideError):
    """The input topics disagree on their partition count, so they cannot be co-partitioned."""


def agreed_partitions(found: dict[str, int], configured: int) -> int:
    """The partition count the worker must use, given what the input topics have.

    Profiles and budgets live in tables co-partitioned with the input topics, so
    the worker follows the topics: absent topics leave ``configured``; topics that
    disagree among themselves cannot be joined by ``user_id`` and stop the worker.

    Examples
    --------
    >>> agreed_partitions({}, 4), agreed_partitions({"events.clicks": 2, "events.orders": 2}, 4)
    (4, 2)
    >>> agreed_partitions({"events.clicks": 2, "events.orders": 4}, 4)
    Traceback (most recent call last):
    ...
    streams.admin.PartitionsMismatchError: input topics are not co-partitioned: events.clicks=2, events.orders=4 (they must have the same partition count; recreate or repartition them)
    """
    counts = set(found.values())
    if not counts:
        return configured
    if len(counts) > 1:
        listed = ", ".join(f"{name}={n}" for name, n in sorted(found.items()))
        raise PartitionsMismatchError(
            f"input topics are not co-partitioned: {listed} "
            "(they must have the same partition count; recreate or repartition them)"
        )
    return counts.pop()


async def existing_partitions(bootstrap: str, names: Sequence[str], **client_kwargs: Any) -> dict[str, int]:
    """Partition counts of those of ``names`` that exist (absent topics are left out)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs)
    await admin.start()
    try:
        listed = set(await admin.list_topics())
        present = [name for name in names if name in listed]
        described = await admin.describe_topics(present) if present else []
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == NO_ERROR and t["partitions"]}
