"""The worker's learning loop: decisions wait for their outcomes, labels teach and watch.

Decision families report what they scored (:meth:`LearningLoop.scored`); the
batch's events report outcomes (:meth:`LearningLoop.outcome`); windows expire on
event time. Each joined example then, in this order: is scored by the online
learner *before* it learns from it (progressive validation for both the live
model and the learner), teaches the learner, feeds the model's drift watcher,
and becomes a :class:`~schemas.learning.LabelledExample` for ``ops.labelled`` and
the refit store. Everything here is in memory and synchronous; the caller does
the I/O. State is per worker: events are co-partitioned by ``user_id``, so a
decision and its outcome reach the same worker.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from agents.grouped_scoring import Scored
from agents.learning.drift import DriftWatcher, log_loss
from agents.learning.labels import LabelJoiner, Labelled, Verdict
from agents.learning.online import OnlineModel
from schemas.events import Event
from schemas.learning import LabelledExample
from schemas.ops import DriftAlert
from streams.settings import LearningPolicy

CTR, CONVERSION, FRAUD = "ctr", "conversion", "fraud"
LEARNED_MODELS: tuple[str, ...] = (CTR, CONVERSION, FRAUD)
LOSS_SMOOTHING = 0.001
"""Weight of the newest example in the rolling log-loss (about the last 1,000 examples)."""


def conversion_key(user_id: str, product_id: str) -> str:
    """Join key of a price decision with a later order of that product by that user."""
    return f"{user_id}\x1f{product_id}"


@dataclass
class RollingLoss:
    """Log-loss of one scorer, scored before learning (progressive validation).

    The plain mean until ``1 / LOSS_SMOOTHING`` examples, then exponentially weighted.
    """

    value: float | None = None
    n: int = 0

    def update(self, score: float, label: bool) -> None:
        self.n += 1
        weight = max(LOSS_SMOOTHING, 1.0 / self.n)
        loss = log_loss(score, label)
        self.value = loss if self.value is None else (1 - weight) * self.value + weight * loss


@dataclass
class LearningOutput:
    """What one drain produced: examples to publish and store, alerts to publish."""

    examples: list[LabelledExample] = field(default_factory=list)
    alerts: list[DriftAlert] = field(default_factory=list)


@dataclass(frozen=True)
class _Bid:
    features: tuple[float, ...]
    score: float
    verdict: Verdict
    at: datetime


class LearningLoop:
    """Label joins, online learners, progressive validation and drift watchers of the three models.

    Examples
    --------
    >>> from datetime import UTC
    >>> from schemas.codec import decode_event
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> loop = LearningLoop(LearningPolicy(chargeback_window_s=60))
    >>> loop.scored("fraud", "o-1", [0.2, 1.0], 0.03, Verdict("fraud-1", "fraud:1"), t)
    >>> cb = decode_event(b'{"kind":"chargeback","event_id":"c","ts":"2026-01-01T00:00:30Z","user_id":"u",'
    ...                   b'"channel":"web","order_id":"o-1"}', "events.orders")
    >>> loop.outcome(cb)
    >>> out = loop.drain(t)
    >>> [(e.model, e.decision_id, e.label, e.model_version) for e in out.examples]
    [('fraud', 'fraud-1', True, 'fraud:1')]
    >>> loop.losses["fraud"]["live"].n, loop.online["fraud"].n_learned
    (1, 1)
    """

    def __init__(self, policy: LearningPolicy, models: Sequence[str] = LEARNED_MODELS) -> None:
        self.policy = policy
        windows = {CTR: policy.click_window_s, CONVERSION: policy.order_window_s, FRAUD: policy.chargeback_window_s}
        self.joiners = {m: LabelJoiner(m, windows[m], policy.max_pending) for m in models}
        self.online = {m: OnlineModel() for m in models}
        self.watchers = {m: DriftWatcher(m, policy) for m in models}
        self.losses = {m: {"live": RollingLoss(), "online": RollingLoss(), "shadow": RollingLoss()} for m in models}
        self.labelled = {m: {True: 0, False: 0} for m in models}
        self._bids: OrderedDict[str, _Bid] = OrderedDict()
        self._ready: list[tuple[Labelled, datetime]] = []

    def scored(
        self, model: str, key: str, features: Iterable[float], score: float, verdict: Verdict, at: datetime
    ) -> None:
        """A decision the live model scored; ``key`` is what its outcome will name.

        ``ctr``: the bid's ``decision_id`` (it waits for its win notice first, since only
        shown ads can be clicked); ``conversion``: :func:`conversion_key`; ``fraud``: the order id.
        """
        if model not in self.joiners:
            return
        row = tuple(features.tolist() if isinstance(features, np.ndarray) else map(float, features))
        if model == CTR:
            self._bids[key] = _Bid(row, float(score), verdict, at)
            while len(self._bids) > self.policy.max_pending:
                self._bids.popitem(last=False)
            return
        for evicted in self.joiners[model].expect(key, row, score, at, verdict):
            self._ready.append((evicted, at))

    def scored_row(
        self, model: str, key: str, rows: np.ndarray, index: int, result: Scored, decision_id: str, at: datetime
    ) -> None:
        """:meth:`scored` for row ``index`` of a block the decision family sent to the live model.

        Degraded blocks are skipped: their scores are not the live model's.
        """
        if result.degraded:
            return
        shadow = None if result.shadow_proba is None else float(result.shadow_proba[index])
        verdict = Verdict(decision_id, result.model_version, shadow, result.shadow_version if shadow is not None else None)
        self.scored(model, key, rows[index], float(result.proba[index]), verdict, at)

    def outcome(self, event: Event) -> None:
        """An event that may settle earlier decisions (win, click, order, chargeback)."""
        at = event.ts
        if event.kind == "ad_impression" and CTR in self.joiners:
            bid = self._bids.pop(event.decision_id, None)
            if bid is not None:
                for evicted in self.joiners[CTR].expect(event.decision_id, bid.features, bid.score, at, bid.verdict):
                    self._ready.append((evicted, at))
        elif event.kind == "ad_click" and CTR in self.joiners:
            self._resolve(CTR, event.decision_id, at)
        elif event.kind == "order" and CONVERSION in self.joiners:
            for product_id in dict.fromkeys(item.product_id for item in event.items):
                self._resolve(CONVERSION, conversion_key(event.user_id, product_id), at)
        elif event.kind == "chargeback" and FRAUD in self.joiners:
            self._resolve(FRAUD, event.order_id, at)

    def _resolve(self, model: str, key: str, at: datetime) -> None:
        labelled = self.joiners[model].resolve(key, at)
        if labelled is not None:
            self._ready.append((labelled, at))

    def expire(self, now: datetime) -> None:
        """Decisions whose window passed by event time ``now`` become negatives; unshown bids are dropped."""
        for joiner in self.joiners.values():
            self._ready.extend((labelled, now) for labelled in joiner.expire(now))
        horizon = now - timedelta(seconds=self.policy.click_window_s)
        while self._bids and next(iter(self._bids.values())).at < horizon:
            self._bids.popitem(last=False)

    def drain(self, now: datetime) -> LearningOutput:
        """Learn from every example joined since the last drain; returns what to publish."""
        out = LearningOutput()
        ready, self._ready = self._ready, []
        for labelled, labelled_at in ready:
            model = labelled.model
            online = self.online[model]
            losses = self.losses[model]
            losses["live"].update(labelled.score, labelled.label)
            losses["online"].update(online.predict_proba_one(labelled.features), labelled.label)
            if labelled.verdict.shadow_score is not None:
                losses["shadow"].update(labelled.verdict.shadow_score, labelled.label)
            online.learn_one(labelled.features, labelled.label)
            self.labelled[model][labelled.label] += 1
            alert = self.watchers[model].update(labelled, now, labelled_at)
            if alert is not None:
                out.alerts.append(alert)
            out.examples.append(example_of(labelled, labelled_at))
        return out

    def fallback(self, model: str, rows: np.ndarray) -> np.ndarray | None:
        """The online learner's probabilities for ``rows`` while the served ``model`` is down.

        None until the learner has seen ``fallback_min_examples`` labels (a cold learner
        would only say 0.5; the rule fallbacks decide better than that).
        """
        online = self.online.get(model)
        if online is None or online.n_learned < self.policy.fallback_min_examples:
            return None
        return np.asarray([online.predict_proba_one(row) for row in rows], dtype=np.float32)

    def pending(self) -> int:
        """Decisions still waiting for an outcome (all models, bids awaiting their win notice included)."""
        return len(self._bids) + sum(len(j) for j in self.joiners.values())


def example_of(labelled: Labelled, labelled_at: datetime) -> LabelledExample:
    """The ``ops.labelled`` message of one joined example."""
    verdict = labelled.verdict
    return LabelledExample(
        model=labelled.model,
        decision_id=verdict.decision_id or labelled.key,
        features=list(labelled.features),
        score=min(1.0, max(0.0, labelled.score)),
        model_version=verdict.model_version or labelled.model,
        label=labelled.label,
        decided_at=labelled.decided_at,
        labelled_at=labelled_at,
        shadow_score=None if verdict.shadow_score is None else min(1.0, max(0.0, verdict.shadow_score)),
        shadow_version=verdict.shadow_version,
    )
