"""Publish synthetic traffic (paced in real time) or a JSONL file to Kafka with aiokafka."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.codec import encode, loads
from streams.consume import positioned_consumer
from streams.synthetic.exchange import Exchange
from streams.synthetic.scenarios import resolve_scenario
from streams.synthetic.traffic import iter_catalog, iter_events
from streams.synthetic.world import World
from streams.topics import BIDS

LINGER_MS: Final = 5
PROGRESS_EVERY_S: Final = 0.5
MAX_IN_FLIGHT: Final = 10_000
"""Delivery futures kept before waiting for the oldest ones."""
KEY_FIELDS: Final[tuple[str, ...]] = ("user_id", "product_id", "campaign_id")
EVENTS_TOTAL: Final = "events"
"""Key of the total number of events (catalog records excluded) in the counts."""
UNANSWERED: Final = "slots_unanswered"
"""Key, in closed-loop counts, of the ad slots whose bid had not come back when the run ended."""
CLOSE_GRACE_S: Final = 5.0
"""How long a closed-loop run waits, after its last event, for the bids of its last ad slots."""
BID_POLL_MS: Final = 50
BID_FETCH_WAIT_MS: Final = 500
"""aiokafka's default; tansu lists a partition's batches within it (see :mod:`streams.consume`)."""

ProgressCallback = Callable[[dict[str, int]], None]


class _Sender:
    """An aiokafka producer that keeps delivery futures and surfaces their errors."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.in_flight: deque[asyncio.Future[Any]] = deque()

    async def send(self, topic: str, value: bytes, key: bytes | None) -> None:
        self.in_flight.append(await self.producer.send(topic, value=value, key=key))
        while self.in_flight and (self.in_flight[0].done() or len(self.in_flight) > MAX_IN_FLIGHT):
            await self.in_flight.popleft()

    async def drain(self) -> None:
        await self.producer.flush()
        while self.in_flight:
            await self.in_flight.popleft()


async def produce_synthetic(
    bootstrap: str,
    *,
    rate_eps: float,
    duration_s: float | None,
    max_events: int | None,
    seed: int,
    scenario: str | None,
    client_kwargs: dict[str, Any],
    on_progress: ProgressCallback | None = None,
    closed_loop: bool = False,
) -> dict[str, int]:
    """Send the catalog of the world of ``seed``, then its events paced at ``rate_eps`` in real time.

    Event timestamps are wall-clock: the stream starts now and event ``i`` is due
    ``i / rate_eps`` seconds later.

    Parameters
    ----------
    bootstrap
        Kafka ``host:port[,host:port]``.
    rate_eps
        Events per second.
    duration_s, max_events
        Stop after this long / this many events (``None`` = no limit; both ``None`` runs until cancelled).
    seed, scenario
        The world and the scenario of :func:`~streams.synthetic.traffic.iter_events`.
    client_kwargs
        Extra ``AIOKafkaProducer`` arguments (security settings; ``linger_ms`` overrides the default).
    on_progress
        Called with the counts so far about every half second.
    closed_loop
        Answer the service's bids (read from ``decisions.bids``) with win notices and clicks
        for the campaign it bid for (:class:`~streams.synthetic.exchange.Exchange`), instead of
        drawing them in the generator. The counts then include ``slots_unanswered``.

    Returns
    -------
    dict[str, int]
        Messages per topic and per event ``kind``, plus ``"events"``: all events sent.
    """
    resolve_scenario(scenario)
    if rate_eps <= 0:
        raise ValueError(f"rate_eps must be positive, got {rate_eps}")
    world = World.from_seed(seed)
    counts: Counter[str] = Counter()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **{"linger_ms": LINGER_MS, **client_kwargs})
    await producer.start()
    try:
        sender = _Sender(producer)
        for topic, key, record in iter_catalog(world):
            await sender.send(topic, encode(record), key.encode())
            counts[topic] += 1
        await sender.drain()
        exchange = Exchange(world, seed) if closed_loop else None
        auction = None if exchange is None else await _start_auctions(bootstrap, exchange, sender, counts, client_kwargs)
        try:
            await _paced_events(sender, world, rate_eps, duration_s, max_events, scenario, exchange, counts, on_progress)
            if exchange is not None:
                await _await_last_bids(exchange)
                counts[UNANSWERED] = exchange.open
        finally:
            if auction is not None:
                auction.cancel()
                (outcome,) = await asyncio.gather(auction, return_exceptions=True)
                if isinstance(outcome, Exception):  # the exchange failed (a cancellation is not an Exception)
                    raise outcome
        await sender.drain()
    finally:
        await producer.stop()
    result = dict(counts)
    if on_progress is not None:
        on_progress(result)
    return result


async def _paced_events(
    sender: _Sender,
    world: World,
    rate_eps: float,
    duration_s: float | None,
    max_events: int | None,
    scenario: str | None,
    exchange: Exchange | None,
    counts: Counter[str],
    on_progress: ProgressCallback | None,
) -> None:
    loop = asyncio.get_running_loop()
    events = iter_events(world, datetime.now(UTC), rate_eps, scenario, exchange)
    began = loop.time()
    reported = began
    sent = 0
    while max_events is None or sent < max_events:
        elapsed = loop.time() - began
        if duration_s is not None and elapsed >= duration_s:
            break
        due = int(elapsed * rate_eps) + 1
        if max_events is not None:
            due = min(due, max_events)
        for _ in range(due - sent):
            topic, key, event = next(events)
            await sender.send(topic, encode(event), key.encode())
            counts[topic] += 1
            counts[event["kind"]] += 1
            counts[EVENTS_TOTAL] += 1
        sent = due
        now = loop.time()
        if on_progress is not None and now - reported >= PROGRESS_EVERY_S:
            reported = now
            on_progress(dict(counts))
        wake = began + sent / rate_eps
        if duration_s is not None:
            wake = min(wake, began + duration_s)
        await asyncio.sleep(max(0.0, wake - now))


async def _start_auctions(
    bootstrap: str, exchange: Exchange, sender: _Sender, counts: Counter[str], client_kwargs: dict[str, Any]
) -> asyncio.Task[None]:
    """Follow ``decisions.bids`` from its current end and settle each bid; returns once positioned."""
    consumer, parts = await positioned_consumer(
        bootstrap, [BIDS], from_beginning=False, client_kwargs=client_kwargs, fetch_wait_ms=BID_FETCH_WAIT_MS
    )
    if not parts:
        await consumer.stop()
        raise RuntimeError(f"closed loop needs the topic {BIDS!r}; create the topics first")
    return asyncio.create_task(_settle_bids(consumer, exchange, sender, counts))


async def _settle_bids(consumer: AIOKafkaConsumer, exchange: Exchange, sender: _Sender, counts: Counter[str]) -> None:
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=BID_POLL_MS)
            now = datetime.now(UTC)
            for records in batch.values():
                for record in records:
                    if record.value is None:
                        continue
                    try:
                        bid = loads(record.value)
                    except ValueError:
                        continue
                    if not isinstance(bid, dict):
                        continue
                    for topic, key, event in exchange.settle(bid, now):
                        await sender.send(topic, encode(event), key.encode())
                        counts[topic] += 1
                        counts[event["kind"]] += 1
                        counts[EVENTS_TOTAL] += 1
    finally:
        await consumer.stop()


async def _await_last_bids(exchange: Exchange) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_GRACE_S
    while exchange.open and loop.time() < deadline:
        await asyncio.sleep(BID_POLL_MS / 1000)


def key_of(line: bytes) -> bytes | None:
    """The message key of one JSONL line: its ``user_id``, ``product_id`` or ``campaign_id``.

    Examples
    --------
    >>> key_of(b'{"kind":"search","user_id":"u-1"}'), key_of(b'{"product_id":"p-9"}'), key_of(b"not json")
    (b'u-1', b'p-9', None)
    """
    try:
        data = loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for field in KEY_FIELDS:
        value = data.get(field)
        if isinstance(value, str) and value:
            return value.encode()
    return None


async def produce_file(bootstrap: str, path: Path, topic: str, client_kwargs: dict[str, Any]) -> int:
    """Send every non-blank line of the JSONL file ``path`` to ``topic`` as raw bytes.

    Lines that are not valid JSON or not valid events are sent all the same (the
    service's ingest dead-letters them); the key comes from :func:`key_of`.

    Returns
    -------
    int
        Number of messages sent.
    """
    sent = 0
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **{"linger_ms": LINGER_MS, **client_kwargs})
    await producer.start()
    try:
        sender = _Sender(producer)
        with path.open("rb") as lines:
            for line in lines:
                raw = line.rstrip(b"\r\n")
                if not raw.strip():
                    continue
                await sender.send(topic, raw, key_of(raw))
                sent += 1
        await sender.drain()
    finally:
        await producer.stop()
    return sent
