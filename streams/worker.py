"""Run the Faust worker: serve metrics, check the Triton contract, then load the catalog, then decide."""

from __future__ import annotations

import asyncio
import logging
import os

import faust

from agents.catalog_reader import follow_catalog
from agents.context import DecisionContext
from agents.features import MODEL_FEATURES
from agents.ingest import register_ingest
from agents.learning.live import LiveVersions, follow_live_versions
from agents.learning.loop import LEARNED_MODELS, LearningLoop, LearningOutput
from agents.learning.refit_launcher import RefitLauncher
from agents.learning.store import ExampleStore, examples_dir
from agents.learning.versioned import VersionedScorer
from agents.intent import CachingClassifier, check_intent_contract, classify_queries
from agents.scoring import ScoringUnavailable, TritonScorer
from schemas.learning import LabelledExample
from schemas.ops import DlqRecord
from streams.app import create_app, faust_worker
from streams.cpu_affinity import format_cpulist, pin_process
from streams.event_loop import event_loop_name, use_event_loop
from streams.gc_policy import freeze_long_lived
from streams.admin import agreed_partitions, existing_partitions, kafka_client_kwargs
from streams.metrics import (
    Metrics,
    budget_by_currency,
    count_ops_messages,
    metrics_host,
    serve_metrics,
    watch_consumer_lag,
)
from streams.settings import Settings
from streams.topics import DLQ, EVENT_TOPICS
from triton_models.query_intent.contract import MODEL_NAME as QUERY_INTENT

log = logging.getLogger("streamdecide.worker")

LAG_INTERVAL_S = 15.0
WARM_UP_QUERIES: tuple[str, ...] = ("wireless earbuds", "手机壳", "zapatillas de correr")
BUDGET_INTERVAL_S = 15.0


async def check_triton(settings: Settings, timeout_s: float) -> dict[str, int]:
    """Fail fast, naming both values, when a served model does not match the agents' features."""
    scorer = TritonScorer(settings.triton_url or "", settings.triton)
    try:
        batch_sizes = await scorer.check_contract(MODEL_FEATURES, timeout_s=timeout_s)
        if settings.intent.enabled:
            batch_sizes[QUERY_INTENT] = await check_intent_contract(scorer, timeout_s=timeout_s)
            await warm_up_intent(scorer, timeout_s)
        return batch_sizes
    finally:
        await scorer.close()


async def follow_topic_partitions(settings: Settings) -> Settings:
    """Settings whose ``topic_partitions`` match the existing input topics (tables must be co-partitioned)."""
    found = await existing_partitions(settings.kafka_bootstrap or "", EVENT_TOPICS, **kafka_client_kwargs(settings))
    partitions = agreed_partitions(found, settings.topic_partitions)
    if partitions == settings.topic_partitions:
        return settings
    log.warning(
        "input topics have a different partition count than configured; following the topics",
        extra={"configured": settings.topic_partitions, "topics": partitions},
    )
    return settings.model_copy(update={"topic_partitions": partitions})


async def warm_up_intent(scorer: TritonScorer, timeout_s: float) -> None:
    """One query through ``query_intent`` before deciding: its first inference is slow (lazy init)."""
    try:
        await classify_queries(scorer, list(WARM_UP_QUERIES), deadline_s=timeout_s)
    except ScoringUnavailable as exc:
        log.warning("query_intent warm-up failed; searches may miss their first deadlines",
                    extra={"reason": exc.reason.value})  # fmt: skip


def build_worker(settings: Settings, metrics: Metrics | None = None) -> tuple[faust.App, DecisionContext]:
    """The Faust app with the catalog follower, the ingest agents and the metric tasks registered."""
    metrics = metrics if metrics is not None else Metrics()
    app, topics = create_app(settings)
    scorer = TritonScorer(settings.triton_url or "", settings.triton, metrics=metrics)
    classify = CachingClassifier(scorer, settings.intent) if settings.intent.enabled else None
    live = LiveVersions()
    learning = LearningLoop(settings.learning) if settings.learning.enabled else None
    ctx = DecisionContext(
        settings=settings, scorer=VersionedScorer(scorer, live, learning.fallback if learning else None),
        metrics=metrics, classify=classify, learning=learning,
    )  # fmt: skip
    stores = {
        model: ExampleStore(examples_dir(settings.data_dir, model), settings.refit.recent_window,
                            settings.refit.replay_size, settings.seed)
        for model in LEARNED_MODELS
    }  # fmt: skip
    refits = RefitLauncher(settings)
    ready, catalog_ready, live_ready = asyncio.Event(), asyncio.Event(), asyncio.Event()
    bootstrap = settings.kafka_bootstrap or ""
    client_kwargs = kafka_client_kwargs(settings)
    metrics.set_worker_ready(False)

    async def dead_letter_catalog(record: DlqRecord) -> object:
        metrics.observe_dlq([record])
        return await topics.outputs[DLQ].send(key=None, value=record)

    async def on_learned(learned: LearningOutput) -> None:
        by_model: dict[str, list[LabelledExample]] = {}
        for example in learned.examples:
            by_model.setdefault(example.model, []).append(example)
        for model, examples in by_model.items():
            await asyncio.to_thread(stores[model].extend, examples)
        for alert in learned.alerts:
            refits.on_alert(alert)

    @app.task
    async def catalog() -> None:
        await follow_catalog(bootstrap, ctx.catalog, catalog_ready, dead_letter_catalog, client_kwargs,
                             settings.pii_key, settings.dlq_payload_max_bytes)

    @app.task
    async def live_versions() -> None:
        await follow_live_versions(bootstrap, live, live_ready, client_kwargs, cache_dir=settings.data_dir)

    @app.task
    async def contract() -> None:
        await scorer.check_contract(MODEL_FEATURES)
        await catalog_ready.wait()
        await live_ready.wait()
        freeze_long_lived(settings.gc)
        ready.set()
        metrics.set_worker_ready(True)
        log.info("worker deciding", extra={"models": sorted(MODEL_FEATURES),
                                           "event_loop": event_loop_name(asyncio.get_running_loop()),
                                           "cores": format_cpulist(os.sched_getaffinity(0))})

    @app.task
    async def consumer_lag() -> None:
        await watch_consumer_lag(bootstrap, settings.app_id, EVENT_TOPICS, metrics, client_kwargs, LAG_INTERVAL_S)

    @app.task
    async def ops_messages() -> None:
        await count_ops_messages(bootstrap, metrics, client_kwargs)

    @app.timer(BUDGET_INTERVAL_S)
    async def ad_budget() -> None:
        metrics.set_ad_budget(budget_by_currency(list(ctx.catalog.campaigns.values())))

    register_ingest(app, topics, ctx, ready, on_learned)
    return app, ctx


def run_worker(settings: Settings, contract_timeout_s: float = 120.0) -> None:
    """Serve ``/metrics`` on ``metrics_port``, then block running the worker until SIGTERM/SIGINT.

    The endpoint is up before the Triton contract check, so probes see the
    process (``streamdecide_worker_ready 0``) while it waits for Triton. The process
    first moves to ``cpu_affinity``'s cores, before it starts any thread.
    """
    pin_process(settings.cpu_cores)
    use_event_loop(settings.event_loop)
    metrics = Metrics()
    server = serve_metrics(metrics.registry, metrics_host(settings), settings.metrics_port)
    try:
        settings = asyncio.run(follow_topic_partitions(settings))
        asyncio.run(check_triton(settings, contract_timeout_s))
        asyncio.set_event_loop(asyncio.new_event_loop())
        app, _ = build_worker(settings, metrics)
        faust_worker(app, settings).execute_from_commandline()
    finally:
        server.shutdown()
        server.server_close()
