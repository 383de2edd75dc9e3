"""The whole service on one machine: embedded broker and Triton when not configured, then the worker.

``streamdecide up`` and ``streamdecide demo`` use :class:`Stack`; every child is
supervised (own process group, log file) and stopped in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from schemas.errors import StreamdecideError
from streams.admin import ensure_topics, kafka_client_kwargs
from streams.embedded.broker import EmbeddedBroker
from streams.embedded.process import ChildProcess
from streams.embedded.triton import EmbeddedTriton
from streams.settings import Settings
from streams.topics import topic_specs

log = logging.getLogger("streamdecide.runtime")

SERVED_MODELS: tuple[str, ...] = ("ctr", "conversion", "fraud", "query_intent")
WORKER_STOP_TIMEOUT_S = 20.0
WORKER_START_GRACE_S = 2.0


class MissingModelsError(StreamdecideError):
    """The model repository lacks a model the worker needs."""


def served_models(repository: Path) -> list[str]:
    """Models of :data:`SERVED_MODELS` present in ``repository``; raises when one is missing."""
    missing = [m for m in SERVED_MODELS if not (repository / m / "config.pbtxt").is_file()]
    if missing:
        raise MissingModelsError(
            f"model repository {repository} lacks {missing}: run `streamdecide train` (or `make setup`)"
        )
    return list(SERVED_MODELS)


def child_env(settings: Settings) -> dict[str, str]:
    """A child worker's environment: inherited, plus the resolved broker, Triton, data dir, partitions, metrics port."""
    env = dict(os.environ)
    env["STREAMDECIDE_KAFKA_BOOTSTRAP"] = settings.kafka_bootstrap or ""
    env["STREAMDECIDE_TRITON_URL"] = settings.triton_url or ""
    env["STREAMDECIDE_DATA_DIR"] = str(settings.data_dir)
    env["STREAMDECIDE_TOPIC_PARTITIONS"] = str(settings.topic_partitions)
    env["STREAMDECIDE_METRICS_PORT"] = str(settings.metrics_port)
    return env


class Stack:
    """Broker (embedded unless configured), Triton (idem), topics, and one worker process."""

    def __init__(self, settings: Settings) -> None:
        self.requested = settings
        self.settings = settings
        self.broker: EmbeddedBroker | None = None
        self.triton: EmbeddedTriton | None = None
        self.worker: ChildProcess | None = None
        self.logs = settings.data_dir / "logs"

    def start(self, with_worker: bool = True) -> Settings:
        """Start what is needed; returns the effective settings (bootstrap and Triton URL set)."""
        began = time.monotonic()
        updates: dict[str, object] = {}
        try:
            if not self.requested.kafka_bootstrap:
                self.broker = EmbeddedBroker()
                self.broker.start(self.requested.broker_port, self.logs / "broker.log")
                updates["kafka_bootstrap"] = self.broker.bootstrap
            if not self.requested.triton_url:
                repository = self.requested.repository_dir.resolve()
                self.triton = EmbeddedTriton()
                self.triton.start(
                    repository,
                    served_models(repository),
                    self.requested.triton_http_port,
                    self.requested.triton_grpc_port,
                    self.requested.triton_metrics_port,
                    self.logs / "triton.log",
                    self.requested.data_dir.resolve(),
                )
                updates["triton_url"] = self.triton.grpc_url
            self.settings = self.requested.model_copy(update=updates)
            asyncio.run(
                ensure_topics(
                    self.settings.kafka_bootstrap or "",
                    topic_specs(self.settings.topic_partitions),
                    replication_factor=self.settings.topic_replication,
                    **kafka_client_kwargs(self.settings),
                )
            )
            if with_worker:
                self.start_worker()
        except BaseException:
            self.stop()
            raise
        log.info("stack up", extra={"seconds": round(time.monotonic() - began, 2),
                                    "kafka": self.settings.kafka_bootstrap, "triton": self.settings.triton_url})
        return self.settings

    def start_worker(self) -> ChildProcess:
        """Start ``streamdecide worker`` as a supervised child process."""
        command = [sys.executable, "-m", "streams.cli", "worker"]
        self.worker = ChildProcess("worker", command, self.logs / "worker.log", env=child_env(self.settings)).start()
        time.sleep(WORKER_START_GRACE_S)
        if not self.worker.alive:
            raise StreamdecideError(f"worker exited at start (rc {self.worker.returncode}):\n{self.worker.log_tail()}")
        return self.worker

    def stop(self) -> None:
        """Stop the worker, then Triton, then the broker (each only if we started it)."""
        if self.worker is not None:
            self.worker.stop(WORKER_STOP_TIMEOUT_S)
        if self.triton is not None:
            self.triton.stop()
        if self.broker is not None:
            self.broker.stop()
