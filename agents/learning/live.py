"""Which version of each model is live, and which one is in shadow.

The source of truth is ``ops.model-events``, replayed from the beginning:
:class:`LiveVersions` folds the events, :func:`follow_live_versions` keeps it current
(like :mod:`agents.catalog_reader` does for the catalog), and a small JSON cache under
``data_dir`` lets ``streamdecide models`` show the live version without the broker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.errors import StreamdecideError
from schemas.ops import ModelEvent
from streams.topics import MODEL_EVENTS

log = logging.getLogger("streamdecide.live")

CACHE_FILE: Final = Path("models") / "live.json"
RESTORED_VERSION: Final = "restored_version"
"""Metric of a ``rolled_back`` event: the version live again after it."""
LIVE_VERSION: Final = "live_version"
"""Metric of ``loaded``/``shadow`` events: the version serving next to the candidate."""
POLL_MS: Final = 200
MAX_RECORDS: Final = 2000
FETCH_WAIT_MS: Final = 100
REPLAY_TIMEOUT_S: Final = 30.0


class ReplayTimeoutError(StreamdecideError, TimeoutError):
    """``ops.model-events`` could not be read to its end in time (broker down or slow)."""


@dataclass
class ModelState:
    """Live version, shadow candidate and the versions live before, of one model."""

    live: int | None = None
    shadow: int | None = None
    previous: list[int] = field(default_factory=list)


class LiveVersions:
    """The live and shadow version of each model, folded from :class:`ModelEvent` records.

    ``promoted`` makes a version live (the old one goes on a stack), ``rolled_back``
    of the live version restores the one before it, ``shadow`` marks a candidate until
    it is ``promoted`` or ``rejected``. ``loaded``/``shadow`` events carry the serving
    version as metric ``live_version``, which sets the live version when none is known.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> lv = LiveVersions()
    >>> for version, action, metrics in [(2, "trained", {}), (2, "loaded", {"live_version": 1.0}),
    ...                                  (2, "shadow", {"live_version": 1.0})]:
    ...     lv.apply(ModelEvent(model="ctr", version=version, action=action, metrics=metrics, at=t))
    >>> lv.live("ctr"), lv.shadow("ctr")
    (1, 2)
    >>> lv.apply(ModelEvent(model="ctr", version=2, action="promoted", at=t))
    >>> lv.live("ctr"), lv.shadow("ctr"), lv.previous("ctr")
    (2, None, 1)
    >>> lv.apply(ModelEvent(model="ctr", version=2, action="rolled_back", metrics={"restored_version": 1.0}, at=t))
    >>> lv.live("ctr"), lv.live("fraud")
    (1, None)
    """

    def __init__(self, states: dict[str, ModelState] | None = None) -> None:
        self.states: dict[str, ModelState] = states or {}
        self.applied = 0
        self.listeners: list[Callable[[ModelEvent], None]] = []

    def _state(self, model: str) -> ModelState:
        return self.states.setdefault(model, ModelState())

    def apply(self, event: ModelEvent) -> None:
        """Fold one model event into the state."""
        state = self._state(event.model)
        serving = event.metrics.get(LIVE_VERSION)
        if event.action in ("loaded", "shadow") and state.live is None and serving is not None:
            state.live = int(serving)
        if event.action == "shadow":
            state.shadow = event.version
        elif event.action == "promoted":
            if state.live is not None and state.live != event.version:
                state.previous.append(state.live)
            state.live = event.version
            if state.shadow == event.version:
                state.shadow = None
        elif event.action == "rejected":
            if state.shadow == event.version:
                state.shadow = None
        elif event.action == "rolled_back" and state.live == event.version:
            restored = event.metrics.get(RESTORED_VERSION)
            if restored is not None:
                state.live = int(restored)
                if state.previous and state.previous[-1] == state.live:
                    state.previous.pop()
            else:
                state.live = state.previous.pop() if state.previous else None
        self.applied += 1
        for listener in self.listeners:
            listener(event)

    def live(self, model: str) -> int | None:
        """The live version of ``model`` (``None``: no event yet, Triton's default version serves)."""
        state = self.states.get(model)
        return state.live if state else None

    def shadow(self, model: str) -> int | None:
        """The candidate in shadow for ``model``, if any."""
        state = self.states.get(model)
        return state.shadow if state else None

    def previous(self, model: str) -> int | None:
        """The version that was live before the current one (what a rollback restores)."""
        state = self.states.get(model)
        return state.previous[-1] if state and state.previous else None

    def to_json(self) -> dict[str, Any]:
        """The state as plain JSON (the cache file's content)."""
        return {m: {"live": s.live, "shadow": s.shadow, "previous": list(s.previous)} for m, s in self.states.items()}

    def save(self, data_dir: Path) -> Path:
        """Write the cache ``data_dir/models/live.json`` (staged, then renamed)."""
        path = data_dir / CACHE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f".{path.name}.{os.getpid()}.staging")  # several writers may share data_dir
        staged.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True), encoding="utf-8")
        staged.replace(path)
        return path

    @classmethod
    def load(cls, data_dir: Path) -> LiveVersions:
        """The cached state under ``data_dir`` (empty when there is no cache or it is unreadable).

        Examples
        --------
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     lv = LiveVersions({"ctr": ModelState(live=3, previous=[1, 2])})
        ...     _ = lv.save(Path(d))
        ...     again = LiveVersions.load(Path(d))
        >>> again.live("ctr"), again.previous("ctr"), LiveVersions.load(Path("/nonexistent")).states
        (3, 2, {})
        """
        path = data_dir / CACHE_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls({m: ModelState(s.get("live"), s.get("shadow"), list(s.get("previous", []))) for m, s in raw.items()})


def cached_live_versions(data_dir: Path) -> dict[str, int]:
    """Live version per model from the local cache (models without one are absent)."""
    return {m: s.live for m, s in LiveVersions.load(data_dir).states.items() if s.live is not None}


async def follow_live_versions(
    bootstrap: str,
    live: LiveVersions,
    ready: asyncio.Event,
    client_kwargs: dict[str, Any] | None = None,
    cache_dir: Path | None = None,
) -> None:
    """Replay ``ops.model-events`` from the beginning into ``live``, then keep following.

    Sets ``ready`` once caught up with the end offsets seen at start; with
    ``cache_dir`` the cache file is rewritten after every batch that changed something.
    Invalid records are logged and skipped. Runs until cancelled.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=FETCH_WAIT_MS,
        **(client_kwargs or {}),
    )  # fmt: skip
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(MODEL_EVENTS, p) for p in sorted(consumer.partitions_for_topic(MODEL_EVENTS) or ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        while True:
            batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
            for tp, records in batch.items():
                for record in records:
                    try:
                        live.apply(ModelEvent.model_validate_json(record.value or b""))
                    except ValidationError as exc:
                        log.warning("invalid model event skipped",
                                    extra={"topic": tp.topic, "partition": tp.partition, "offset": record.offset,
                                           "error": str(exc)[:200]})  # fmt: skip
            if batch and cache_dir is not None:
                live.save(cache_dir)
            if not ready.is_set() and all([await consumer.position(tp) >= end[tp] for tp in parts]):
                log.info("live versions loaded", extra={"events": live.applied, "live": live.to_json()})
                ready.set()
    finally:
        await consumer.stop()


async def replay_live_versions(
    bootstrap: str, client_kwargs: dict[str, Any] | None = None, timeout_s: float = REPLAY_TIMEOUT_S
) -> LiveVersions:
    """Read ``ops.model-events`` once from the beginning to its current end and return the state."""
    live, ready = LiveVersions(), asyncio.Event()
    task = asyncio.create_task(follow_live_versions(bootstrap, live, ready, client_kwargs))
    try:
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait({task, waiter}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task in done:
            task.result()
        if not ready.is_set():
            raise ReplayTimeoutError(f"{MODEL_EVENTS} not replayed within {timeout_s:g} s")
        return live
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
