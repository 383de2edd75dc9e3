"""Roll a refitted version out: load it next to the live one, shadow it, promote or reject; roll back.

Runs in its own process (``streamdecide refit`` / ``streamdecide rollback``), never in
the worker. Every step is an :class:`~schemas.ops.ModelEvent` on ``ops.model-events``;
workers follow that topic with :class:`~agents.learning.live.LiveVersions` and ask
Triton for the live version explicitly, so loading a candidate (a higher version)
never changes what they serve. Triton serves exactly the versions named in a
``version_policy: specific`` config override of the load request; ``config.pbtxt`` is
pinned to the live version too, so a restarted server serves the same one.

One rollout per model at a time (the state is replayed from the topic at start).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import tritonclient.grpc.aio as grpcclient
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError
from tritonclient.utils import InferenceServerException

from agents.learning.live import LIVE_VERSION, RESTORED_VERSION, LiveVersions, replay_live_versions
from agents.triton_client import LazyTritonClient
from schemas.codec import encode
from schemas.errors import StreamdecideError
from schemas.learning import LabelledExample
from schemas.ops import ModelAction, ModelEvent
from streams.admin import kafka_client_kwargs
from streams.security import triton_client_kwargs
from streams.settings import RefitPolicy, Settings
from streams.topics import LABELLED, MODEL_EVENTS
from triton_models.refit import RefitCard, read_refit_card
from triton_models.repository import CONFIG_FILE, STAGING_PREFIX

log = logging.getLogger("streamdecide.rollout")

CONTROL_TIMEOUT_S: Final = 120.0
READY_POLL_S: Final = 0.1
POLL_MS: Final = 200
MAX_RECORDS: Final = 2000
LOSS_CLIP: Final = 1e-6
READY_STATE: Final = "READY"
CHANGE_POLL_S: Final = 2.0
"""How often a refit waiting for post-change examples re-reads the store."""
VERSION_POLICY_LINE: Final = re.compile(r"^version_policy:.*$", re.MULTILINE)


class RolloutError(StreamdecideError):
    """A rollout step cannot go on; the message says which and why."""


@dataclass(frozen=True)
class ShadowVerdict:
    """Live vs candidate log-loss on the same labelled examples, and what to do."""

    promote: bool
    n: int
    live_log_loss: float
    candidate_log_loss: float
    change: float
    reason: str

    def metrics(self) -> dict[str, float]:
        """The figures as model-event metrics."""
        return {
            "shadow_examples": float(self.n),
            "live_log_loss": round(self.live_log_loss, 6),
            "candidate_log_loss": round(self.candidate_log_loss, 6),
            "log_loss_change": round(self.change, 6),
        }


def _log_loss(scores: Sequence[float], labels: Sequence[bool]) -> float:
    total = 0.0
    for score, label in zip(scores, labels, strict=True):
        p = min(max(score, LOSS_CLIP), 1 - LOSS_CLIP)
        total -= math.log(p if label else 1 - p)
    return total / max(len(labels), 1)


def shadow_verdict(examples: Sequence[LabelledExample], policy: RefitPolicy) -> ShadowVerdict:
    """Promote when the candidate's shadow log-loss beats the live one by ``min_recent_improvement``.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> def ex(label, live, shadow):
    ...     return LabelledExample(model="ctr", decision_id="d", features=[0.0], score=live, model_version="ctr:1",
    ...                            label=label, decided_at=t, labelled_at=t, shadow_score=shadow,
    ...                            shadow_version="ctr:2")
    >>> rows = [ex(True, 0.2, 0.6), ex(False, 0.2, 0.1)] * 5
    >>> v = shadow_verdict(rows, RefitPolicy(min_recent_improvement=0.01))
    >>> v.promote, v.n, round(v.change, 3)
    (True, 10, -0.664)
    >>> shadow_verdict([ex(True, 0.6, 0.2)], RefitPolicy()).promote
    False
    """
    labels = [e.label for e in examples]
    live = _log_loss([e.score for e in examples], labels)
    candidate = _log_loss([e.shadow_score if e.shadow_score is not None else e.score for e in examples], labels)
    change = (candidate - live) / live if live > 0 else 0.0
    promote = bool(examples) and change <= -policy.min_recent_improvement
    reason = (f"shadow log-loss {candidate:.5f} vs live {live:.5f} ({change:+.2%}, need <= "
              f"{-policy.min_recent_improvement:+.2%}) on {len(examples)} labelled examples")  # fmt: skip
    return ShadowVerdict(promote, len(examples), live, candidate, change, reason)


def pin_config(repository: Path, model: str, versions: Sequence[int]) -> Path:
    """Rewrite ``config.pbtxt``'s version policy to serve exactly ``versions`` (staged, then renamed).

    Examples
    --------
    >>> import tempfile
    >>> from triton_models.repository import render_config
    >>> with tempfile.TemporaryDirectory() as d:
    ...     (Path(d) / "ctr").mkdir()
    ...     _ = (Path(d) / "ctr" / CONFIG_FILE).write_text(render_config("ctr", 3))
    ...     text = pin_config(Path(d), "ctr", [2]).read_text()
    >>> [line for line in text.splitlines() if line.startswith("version_policy")]
    ['version_policy: { specific: { versions: [ 2 ] } }']
    """
    path = repository / model / CONFIG_FILE
    text = path.read_text(encoding="utf-8")
    line = f"version_policy: {{ specific: {{ versions: [ {', '.join(str(v) for v in sorted(versions))} ] }} }}"
    text = VERSION_POLICY_LINE.sub(line, text) if VERSION_POLICY_LINE.search(text) else f"{text.rstrip()}\n{line}\n"
    staged = path.with_name(f"{STAGING_PREFIX}{CONFIG_FILE}")
    staged.write_text(text, encoding="utf-8")
    staged.replace(path)
    return path


class TritonControl(LazyTritonClient):
    """Explicit model control of one Triton over gRPC: which versions of a model it serves."""

    def __init__(
        self, url: str, timeout_s: float = CONTROL_TIMEOUT_S, client_kwargs: dict[str, Any] | None = None
    ) -> None:
        super().__init__(url, client_kwargs or {})
        self.timeout_s = timeout_s

    async def ready_versions(self, model: str) -> list[int]:
        """Versions of ``model`` in state READY."""
        index = await self.client.get_model_repository_index(as_json=True, client_timeout=self.timeout_s)
        return sorted(int(m["version"]) for m in index.get("models", [])
                      if m.get("name") == model and m.get("state") == READY_STATE and m.get("version"))  # fmt: skip

    async def serve(self, model: str, versions: Sequence[int]) -> None:
        """Load ``model`` with a config override serving exactly ``versions``; wait until all are ready.

        Versions already loaded keep serving; the others load or unload in the background.

        Raises
        ------
        RolloutError
            If Triton refuses the load (its error text included) or a version never gets ready.
        """
        wanted = sorted(set(versions))
        try:
            config = (await self.client.get_model_config(model, as_json=True, client_timeout=self.timeout_s))["config"]
            config["version_policy"] = {"specific": {"versions": wanted}}
            await self.client.load_model(model, config=json.dumps(config), client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            raise RolloutError(f"{model}: Triton refused to serve versions {wanted}: {exc.message()}") from None
        deadline = time.monotonic() + self.timeout_s
        while (ready := await self.ready_versions(model)) != wanted:
            if time.monotonic() > deadline:
                raise RolloutError(f"{model}: serving {ready} after {self.timeout_s:g} s, wanted {wanted}")
            await asyncio.sleep(READY_POLL_S)
        log.info("triton serves versions", extra={"model": model, "versions": wanted})


class Rollout:
    """The refit → load → shadow → promote/reject → rollback state machine of one process.

    Parameters
    ----------
    bootstrap
        Kafka bootstrap (model events out, labelled examples in).
    triton_url
        Triton gRPC ``host:port``.
    repository
        The model repository (version directories and ``config.pbtxt``).
    policy
        Shadow size, timeouts and the unload grace.
    data_dir
        Where the live-version cache is written (``streamdecide models`` reads it).
    client_kwargs
        aiokafka security options.
    """

    def __init__(
        self,
        bootstrap: str,
        triton_url: str,
        repository: Path,
        policy: RefitPolicy,
        data_dir: Path,
        client_kwargs: dict[str, Any] | None = None,
        triton_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.repository = repository
        self.policy = policy
        self.data_dir = data_dir
        self.client_kwargs = client_kwargs or {}
        self.triton = TritonControl(triton_url, client_kwargs=triton_kwargs)
        self.live = LiveVersions()
        self.events: list[ModelEvent] = []
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> Rollout:
        self.live = await replay_live_versions(self.bootstrap, self.client_kwargs)
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", **self.client_kwargs)
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self.triton.close()

    async def publish(
        self,
        model: str,
        version: int,
        action: ModelAction,
        metrics: dict[str, float] | None = None,
        reason: str | None = None,
    ) -> ModelEvent:
        """Send one model event (acknowledged), apply it to the local state and rewrite the cache."""
        if self._producer is None:
            raise RuntimeError("use Rollout as an async context manager")
        event = ModelEvent(model=model, version=version, action=action, metrics=metrics or {}, reason=reason,
                           at=datetime.now(UTC))  # fmt: skip
        await self._producer.send_and_wait(MODEL_EVENTS, encode(event), key=model.encode())
        self.live.apply(event)
        self.live.save(self.data_dir)
        self.events.append(event)
        log.info("model event", extra={"model": model, "version": version, "action": action, "reason": reason})
        return event

    async def _baseline(self, model: str, candidate: int) -> int:
        """The live version; the first rollout of a model records the one Triton serves as promoted."""
        live = self.live.live(model)
        if live is not None:
            return live
        serving = [v for v in await self.triton.ready_versions(model) if v != candidate]
        if not serving:
            raise RolloutError(f"{model}: no live version known and none served by Triton besides {candidate}")
        baseline = "baseline: the version serving before the first rollout"
        await self.publish(model, serving[-1], "promoted", reason=baseline)
        await asyncio.sleep(self.policy.unload_grace_s)  # workers pin the baseline before a higher version loads
        return serving[-1]

    async def run(
        self, model: str, version: int, shadow_examples: int | None = None, drill: bool = False
    ) -> ModelEvent:
        """Take a written version from ``trained`` to ``promoted`` or ``rejected``; returns the final event.

        Parameters
        ----------
        model, version
            The candidate's version directory (written by :func:`triton_models.refit.write_candidate`).
        shadow_examples
            Labelled shadow examples to wait for (``policy.shadow_examples`` by default).
        drill
            Load and shadow the candidate even if the offline gates rejected it (to rehearse a rejection).
        """
        card = read_refit_card(self.repository / model / str(version))
        live = await self._baseline(model, version)
        await self.publish(model, version, "trained", _card_metrics(card),
                           "; ".join(card.refit.reasons) if card else "not a refit version")  # fmt: skip
        if card is not None and card.refit.decision == "reject" and not drill:
            return await self.publish(model, version, "rejected", _card_metrics(card),
                                      "offline gates: " + "; ".join(card.refit.reasons))  # fmt: skip
        try:
            await self.triton.serve(model, [live, version])
        except RolloutError as exc:
            await self._serve_only(model, live)
            return await self.publish(model, version, "rejected", reason=f"load failed: {exc}")
        await self.publish(model, version, "loaded", {LIVE_VERSION: float(live)})
        wanted = shadow_examples or self.policy.shadow_examples
        start = await self._labelled_end()
        await self.publish(model, version, "shadow", {LIVE_VERSION: float(live), "shadow_examples": float(wanted)})
        examples = await self._collect_shadow(model, live, version, wanted, start)
        if len(examples) < wanted:
            final = await self.publish(model, version, "rejected", {"shadow_examples": float(len(examples))},
                                       f"shadow timeout: {len(examples)} of {wanted} labelled examples "
                                       f"in {self.policy.shadow_timeout_s:g} s")  # fmt: skip
        else:
            verdict = shadow_verdict(examples, self.policy)
            action: ModelAction = "promoted" if verdict.promote else "rejected"
            final = await self.publish(model, version, action, {**verdict.metrics(), LIVE_VERSION: float(live)},
                                       verdict.reason)  # fmt: skip
        keep = version if final.action == "promoted" else live
        await asyncio.sleep(self.policy.unload_grace_s)
        await self._serve_only(model, keep)
        return final

    async def rollback(self, model: str, reason: str = "manual rollback") -> ModelEvent:
        """Make the version live before the current one live again (``rolled_back`` of the current one)."""
        current, previous = self.live.live(model), self.live.previous(model)
        if current is None or previous is None:
            raise RolloutError(f"{model}: nothing to roll back (live {current}, previous {previous})")
        await self.triton.serve(model, [previous, current])
        event = await self.publish(model, current, "rolled_back", {RESTORED_VERSION: float(previous)}, reason)
        await asyncio.sleep(self.policy.unload_grace_s)
        await self._serve_only(model, previous)
        return event

    async def _serve_only(self, model: str, version: int) -> None:
        await self.triton.serve(model, [version])
        pin_config(self.repository, model, [version])

    async def _labelled_end(self) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    **self.client_kwargs)  # fmt: skip
        await consumer.start()
        try:
            await consumer.topics()
            parts = [TopicPartition(LABELLED, p) for p in sorted(consumer.partitions_for_topic(LABELLED) or ())]
            if not parts:
                raise RolloutError(f"topic {LABELLED} does not exist: create the ops topics first")
            return dict(await consumer.end_offsets(parts))
        finally:
            await consumer.stop()

    async def _collect_shadow(
        self, model: str, live: int, version: int, wanted: int, start: dict[TopicPartition, int]
    ) -> list[LabelledExample]:
        """Labelled examples of ``model`` decided by ``live`` and shadow-scored by ``version``, from ``start``."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    **self.client_kwargs)  # fmt: skip
        await consumer.start()
        found: list[LabelledExample] = []
        deadline = time.monotonic() + self.policy.shadow_timeout_s
        try:
            consumer.assign(list(start))
            for tp, offset in start.items():
                consumer.seek(tp, offset)
            while len(found) < wanted and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
                for records in batch.values():
                    for record in records:
                        try:
                            example = LabelledExample.model_validate_json(record.value or b"")
                        except ValidationError:
                            log.warning("invalid labelled example skipped", extra={"offset": record.offset})
                            continue
                        if (example.model == model and example.candidate_version == version
                                and example.live_version == live):  # fmt: skip
                            found.append(example)
        finally:
            await consumer.stop()
        return found[:wanted]


def _card_metrics(card: RefitCard | None) -> dict[str, float]:
    """The offline evaluation of a refit card as model-event metrics."""
    if card is None:
        return {}
    ev = card.refit
    out: dict[str, float] = {"recent_rows": float(ev.recent_rows), "replay_rows": float(ev.replay_rows)}
    for name in ("candidate_recent", "live_recent", "candidate_replay", "live_replay"):
        metrics = getattr(ev, name)
        if metrics is not None:
            out[f"{name}_log_loss"] = round(metrics.log_loss, 6)
            out[f"{name}_auc"] = round(metrics.auc, 6)
    if ev.recent_improvement is not None:
        out["recent_improvement"] = round(ev.recent_improvement, 6)
    if ev.replay_regression is not None:
        out["replay_regression"] = round(ev.replay_regression, 6)
    return {k: v for k, v in out.items() if math.isfinite(v)}


async def refit_data(
    settings: Settings, model: str, examples: Path | None = None, since: datetime | None = None
) -> tuple[list[LabelledExample], list[LabelledExample]]:
    """The recent and replay examples a refit trains on.

    Without ``since``: the store's recent window and its replay reservoir. With a
    change point ``since`` (a drift alert's ``change_at``): the examples labelled
    from then on are the recent data and everything older is replay; it waits (up to
    ``refit.change_wait_s``) until the new regime has ``refit.min_examples``
    examples, re-reading the store the worker keeps appending to.
    """
    from agents.learning.store import ExampleStore, examples_dir

    policy = settings.refit
    directory = examples or examples_dir(settings.data_dir, model)

    def read() -> ExampleStore:
        return ExampleStore(directory, policy.recent_window, policy.replay_size, settings.seed)

    if since is None:
        store = read()
        return store.recent(), store.replay()
    deadline = time.monotonic() + policy.change_wait_s
    while True:
        new, old = read().since(since)
        if len(new) >= policy.min_examples or time.monotonic() >= deadline:
            break
        log.info("refit waits for post-change examples",
                 extra={"model": model, "have": len(new), "need": policy.min_examples, "since": since.isoformat()})
        await asyncio.sleep(CHANGE_POLL_S)
    if len(old) > policy.replay_size:
        old = random.Random(settings.seed).sample(old, policy.replay_size)
    return new, old


async def refit_and_roll_out(
    settings: Settings,
    model: str,
    examples: Path | None = None,
    shadow_examples: int | None = None,
    since: datetime | None = None,
) -> dict[str, Any]:
    """``streamdecide refit MODEL``: fit on the example store, write the version, roll it out.

    ``since``: the change point of the drift that triggered the refit (see :func:`refit_data`).
    The fit runs in a worker thread of this process (never in the service's worker).
    Returns a JSON-able summary: version, offline decision and figures, final action.
    """
    from agents.features import MODEL_FEATURES
    from triton_models.refit import examples_to_dataset, load_live, refit, write_candidate

    bootstrap, triton_url = _endpoints(settings, "refit")
    policy = settings.refit
    recent_examples, replay_examples = await refit_data(settings, model, examples, since)
    recent = examples_to_dataset(recent_examples, MODEL_FEATURES[model])
    replay = examples_to_dataset(replay_examples, MODEL_FEATURES[model])
    repository = settings.repository_dir.resolve()
    kwargs = kafka_client_kwargs(settings)
    triton_kwargs = triton_client_kwargs(settings.triton)
    async with Rollout(bootstrap, triton_url, repository, policy, settings.data_dir, kwargs, triton_kwargs) as rollout:
        live_version = rollout.live.live(model) or max(await rollout.triton.ready_versions(model), default=None)
        live = load_live(repository, model, live_version)
        outcome = await asyncio.to_thread(refit, model, recent, replay, policy, settings.seed, live, live_version)
        card = write_candidate(repository, outcome)
        final = await rollout.run(model, card.version, shadow_examples)
    return {"model": model, "version": card.version, "live_before": live_version, "offline": card.refit.decision,
            "recent_improvement": card.refit.recent_improvement, "replay_regression": card.refit.replay_regression,
            "action": final.action, "reason": final.reason}  # fmt: skip


async def roll_back(settings: Settings, model: str) -> ModelEvent:
    """``streamdecide rollback MODEL``: the version live before the current one becomes live again."""
    bootstrap, triton_url = _endpoints(settings, "rollback")
    async with Rollout(bootstrap, triton_url, settings.repository_dir.resolve(), settings.refit, settings.data_dir,
                       kafka_client_kwargs(settings)) as rollout:  # fmt: skip
        return await rollout.rollback(model)


def _endpoints(settings: Settings, verb: str) -> tuple[str, str]:
    needed = (("KAFKA_BOOTSTRAP", settings.kafka_bootstrap), ("TRITON_URL", settings.triton_url))
    missing = [name for name, value in needed if not value]
    if missing:
        raise RolloutError(f"{verb} needs STREAMDECIDE_{' and STREAMDECIDE_'.join(missing)} (the running service's)")
    return settings.kafka_bootstrap or "", settings.triton_url or ""
