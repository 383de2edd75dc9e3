"""Run the Faust worker: check the Triton contract, then load the catalog, then decide."""

from __future__ import annotations

import asyncio
import logging

import faust

from agents.catalog_reader import follow_catalog
from agents.context import DecisionContext
from agents.features import MODEL_FEATURES
from agents.ingest import register_ingest
from agents.scoring import TritonScorer
from streams.app import create_app
from streams.admin import kafka_client_kwargs
from streams.logs import logging_config
from streams.settings import Settings
from streams.topics import DLQ

log = logging.getLogger("streamdecide.worker")


async def check_triton(settings: Settings, timeout_s: float) -> dict[str, int]:
    """Fail fast, naming both values, when a served model does not match the agents' features."""
    scorer = TritonScorer(settings.triton_url or "", settings.triton)
    try:
        return await scorer.check_contract(MODEL_FEATURES, timeout_s=timeout_s)
    finally:
        await scorer.close()


def build_worker(settings: Settings) -> tuple[faust.App, DecisionContext]:
    """The Faust app with the catalog follower and the ingest agents registered."""
    app, topics = create_app(settings)
    ctx = DecisionContext(settings=settings, scorer=TritonScorer(settings.triton_url or "", settings.triton))
    ready = asyncio.Event()

    @app.task
    async def catalog() -> None:
        await follow_catalog(
            settings.kafka_bootstrap or "",
            ctx.catalog,
            ready,
            lambda record: topics.outputs[DLQ].send(key=None, value=record),
            kafka_client_kwargs(settings),
        )

    @app.task
    async def contract() -> None:
        await ctx.scorer.check_contract(MODEL_FEATURES)
        await ready.wait()
        log.info("worker deciding", extra={"models": sorted(MODEL_FEATURES)})

    register_ingest(app, topics, ctx, ready)
    return app, ctx


def run_worker(settings: Settings, contract_timeout_s: float = 120.0) -> None:
    """Block running the worker until SIGTERM/SIGINT."""
    asyncio.run(check_triton(settings, contract_timeout_s))
    asyncio.set_event_loop(asyncio.new_event_loop())
    app, _ = build_worker(settings)
    worker = faust.Worker(
        app, loglevel=settings.log_level, logging_config=logging_config(settings.log_level), quiet=True
    )
    worker.execute_from_commandline()
