"""The Faust worker logs at the configured level and builds no records below it."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from streams.app import create_app, faust_worker
from streams.settings import Settings


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, its level and handlers restored afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.fixture
def gc_thresholds() -> Iterator[None]:
    """The collector's thresholds restored afterwards (the worker sets its own)."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


def test_root_logger_stays_at_the_configured_level(root_logger: logging.Logger, gc_thresholds: None) -> None:
    settings = Settings(_env_file=None, kafka_bootstrap="127.0.0.1:1", log_level="warn")
    app, _ = create_app(settings)
    worker = faust_worker(app, settings)
    worker.on_setup_root_logger(root_logger, logging.WARNING)
    assert not logging.getLogger("aiokafka.conn").isEnabledFor(logging.DEBUG)
    assert root_logger.getEffectiveLevel() == logging.WARNING
