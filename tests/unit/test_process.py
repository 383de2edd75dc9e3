"""Ports and supervised child processes of the embedded runtime (real processes, no network)."""

from __future__ import annotations

import gc
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.embedded.process import (
    LOCALHOST,
    ChildProcess,
    PortInUseError,
    WaitTimeoutError,
    ensure_port_free,
    free_port,
    free_ports,
    port_is_free,
    process_group_members,
    wait_for_port,
)

GROUP_TIMEOUT_S = 5.0
TWO_SLEEPERS = ["bash", "-c", "sleep 300 & sleep 300"]
SIGTERM_IGNORING_SLEEPERS = ["bash", "-c", "trap '' TERM; sleep 300 & sleep 300"]


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in "ZX"


def wait_for_members(pgid: int, count: int) -> list[int]:
    """Poll until process group ``pgid`` has at least ``count`` live members."""
    deadline = time.monotonic() + GROUP_TIMEOUT_S
    while len(members := process_group_members(pgid)) < count:
        assert time.monotonic() < deadline, f"group {pgid} has only {members}"
        time.sleep(0.02)
    return members


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        sock.listen()
        yield sock


def test_free_port_can_be_bound() -> None:
    port = free_port()
    assert port_is_free(port)
    with socket.socket() as sock:
        sock.bind((LOCALHOST, port))


def test_free_ports_are_distinct() -> None:
    assert len(set(free_ports(5))) == 5


def test_taken_port_raises_port_in_use(listening_socket: socket.socket) -> None:
    port = listening_socket.getsockname()[1]
    assert not port_is_free(port)
    with pytest.raises(PortInUseError, match="set STREAMDECIDE_BROKER_PORT or stop the other process") as err:
        ensure_port_free(port, "broker", "STREAMDECIDE_BROKER_PORT")
    assert (err.value.port, err.value.setting) == (port, "STREAMDECIDE_BROKER_PORT")


def test_wait_for_port(listening_socket: socket.socket) -> None:
    wait_for_port(LOCALHOST, listening_socket.getsockname()[1], timeout=1)
    with pytest.raises(WaitTimeoutError):
        wait_for_port(LOCALHOST, free_port(), timeout=0.2)


def test_stop_kills_the_whole_group_including_a_grandchild(tmp_path: Path) -> None:
    child = ChildProcess("sleepers", TWO_SLEEPERS, tmp_path / "sleepers.log").start()
    assert child.alive and child.pid is not None
    members = wait_for_members(child.pid, 2)
    assert child.stop(timeout=5) == -signal.SIGTERM
    assert not child.alive
    assert process_group_members(child.pid) == []
    assert not any(pid_alive(pid) for pid in members)


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    child = ChildProcess("stubborn", SIGTERM_IGNORING_SLEEPERS, tmp_path / "stubborn.log").start()
    assert child.pid is not None
    wait_for_members(child.pid, 2)
    began = time.monotonic()
    assert child.stop(timeout=0.3) == -signal.SIGKILL
    assert time.monotonic() - began < GROUP_TIMEOUT_S
    assert process_group_members(child.pid) == []


def test_stop_is_idempotent(tmp_path: Path) -> None:
    child = ChildProcess("sleeper", ["sleep", "300"], tmp_path / "sleeper.log")
    assert child.stop() is None
    child.start()
    first = child.stop()
    assert child.stop() == first == -signal.SIGTERM


def test_log_gets_stdout_and_stderr_of_this_run_only(tmp_path: Path) -> None:
    log = tmp_path / "echo.log"
    log.write_text("line of an earlier run\n")
    child = ChildProcess("echo", ["bash", "-c", "echo to-stdout; echo to-stderr >&2"], log).start()
    deadline = time.monotonic() + GROUP_TIMEOUT_S
    while child.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.returncode == 0
    assert child.log_tail() == "to-stdout\nto-stderr"
    assert log.read_text().startswith("line of an earlier run\n")


def test_forgotten_child_is_stopped_when_collected(tmp_path: Path) -> None:
    child = ChildProcess("forgotten", ["sleep", "300"], tmp_path / "forgotten.log").start()
    pid = child.pid
    assert pid is not None and pid_alive(pid)
    del child
    gc.collect()
    assert not pid_alive(pid)


def test_child_left_running_is_stopped_at_interpreter_exit(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from streams.embedded.process import ChildProcess\n"
        "KEEP = ChildProcess('orphan-candidate', ['sleep', '300'], Path(sys.argv[1])).start()\n"
        "print(KEEP.pid)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "child.log")], capture_output=True, text=True, check=True
    )
    assert not pid_alive(int(run.stdout))
