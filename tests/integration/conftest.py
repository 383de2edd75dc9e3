"""Real embedded processes for integration tests, always stopped by a finalizer.

Ports come from :func:`free_port` (other test runs share this machine); a start that
loses the race for a port is retried on fresh ports.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from streams.embedded.broker import EmbeddedBroker
from streams.embedded.process import PortInUseError, free_port, free_ports
from streams.embedded.triton import EmbeddedTriton
from streams.settings import Settings

START_ATTEMPTS = 3

TritonFactory = Callable[[Path, list[str]], EmbeddedTriton]


def start_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh tansu broker on a free port, stopped by ``request``'s finalizer; returns its bootstrap."""
    log_path = tmp_path_factory.mktemp("broker") / "tansu.log"
    for attempt in range(1, START_ATTEMPTS + 1):
        embedded = EmbeddedBroker()
        request.addfinalizer(embedded.stop)
        try:
            embedded.start(free_port(), log_path)
        except PortInUseError:
            if attempt == START_ATTEMPTS:
                raise
            continue
        return embedded.bootstrap
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Bootstrap ``"127.0.0.1:PORT"`` of one tansu broker shared by the session."""
    return start_broker(request, tmp_path_factory)


def start_triton(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, repository: Path, models: list[str]
) -> EmbeddedTriton:
    """A tritonserver on three free ports, stopped by ``request``'s finalizer."""
    work_dir = tmp_path_factory.mktemp("triton")
    for attempt in range(1, START_ATTEMPTS + 1):
        server = EmbeddedTriton()
        request.addfinalizer(server.stop)
        http_port, grpc_port, metrics_port = free_ports(3)
        try:
            server.start(repository, models, http_port, grpc_port, metrics_port, work_dir / "tritonserver.log", work_dir)
        except PortInUseError:
            if attempt == START_ATTEMPTS:
                raise
            continue
        return server
    raise AssertionError("unreachable")


@pytest.fixture
def triton_factory(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TritonFactory:
    """Start a tritonserver on three free ports for ``(repository, models)``; stopped after the test."""
    return lambda repository, models: start_triton(request, tmp_path_factory, repository, models)


@pytest.fixture(scope="session")
def model_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained default models: ``make setup``'s repository when complete, else trained here."""
    from streams.runtime import SERVED_MODELS
    from triton_models.cli import train

    default = Settings(_env_file=None).repository_dir.resolve()
    if all((default / m / "config.pbtxt").is_file() for m in SERVED_MODELS):
        return default
    settings = Settings(_env_file=None, model_repository=tmp_path_factory.mktemp("models"))
    train(settings, None, if_missing=True)
    return settings.repository_dir


@pytest.fixture(scope="session")
def triton(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, model_repository: Path) -> EmbeddedTriton:
    """One tritonserver serving the default models for the whole session."""
    from streams.runtime import SERVED_MODELS

    return start_triton(request, tmp_path_factory, model_repository, list(SERVED_MODELS))
