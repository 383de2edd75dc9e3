"""The console script end to end: ``up`` stops every child on SIGTERM; ``demo`` prints its JSON summary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from streams.embedded.process import free_ports, process_group_members

pytestmark = pytest.mark.integration

UP_READY_TIMEOUT_S = 120
DEMO_TIMEOUT_S = 300


def cli_env(data_dir: Path, repository: Path) -> dict[str, str]:
    broker, http, grpc, metrics, prom = free_ports(5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMDECIDE_")}
    env.update(
        STREAMDECIDE_DATA_DIR=str(data_dir),
        STREAMDECIDE_MODEL_REPOSITORY=str(repository),
        STREAMDECIDE_BROKER_PORT=str(broker),
        STREAMDECIDE_TRITON_HTTP_PORT=str(http),
        STREAMDECIDE_TRITON_GRPC_PORT=str(grpc),
        STREAMDECIDE_TRITON_METRICS_PORT=str(metrics),
        STREAMDECIDE_METRICS_PORT=str(prom),
        STREAMDECIDE_TOPIC_PARTITIONS="2",
    )
    return env


def descendants(pid: int) -> set[int]:
    """Every live process whose parent chain leads to ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def test_up_stops_every_child_on_sigterm(tmp_path: Path, model_repository: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "up"], env=cli_env(tmp_path, model_repository),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + UP_READY_TIMEOUT_S
        line = ""
        while not line.startswith("streamdecide up:"):
            assert time.monotonic() < deadline and proc.poll() is None, f"up did not start: {proc.stderr.read()}"
            line = proc.stdout.readline()
        children = descendants(proc.pid)
        groups = {os.getpgid(pid) for pid in children}
        assert len(children) >= 3, "broker, tritonserver (+ stubs) and worker should be running"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not descendants(proc.pid)
        assert not [pid for pgid in groups for pid in process_group_members(pgid)]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_demo_with_duration_prints_a_json_summary_last(tmp_path: Path, model_repository: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--duration", "8", "--rate", "150"],
        env=cli_env(tmp_path, model_repository), capture_output=True, text=True, timeout=DEMO_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert summary["events"] > 0 and summary["dlq"] == 0
    assert all(summary["decisions"][k] > 0 for k in ("bids", "prices", "fraud")), summary
    assert 0 < summary["p50_ms"] <= summary["p99_ms"]
