"""Pinning a process to cores: every thread moves, later threads and children follow, bad cores are one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas.errors import StreamdecideError
from streams.bench import start_child
from streams.cli import main
from streams.cpu_affinity import CPU_AFFINITY_SETTING, core_layout, format_cpulist, parse_cpulist, pin_process
from streams.embedded.process import free_port
from streams.settings import Settings

MISSING_CORE = 4_000
"""A core no test machine has."""

PROBE = """
import os, sys, threading
ready = threading.Event()
threading.Thread(target=lambda: (ready.set(), threading.Event().wait(30)), daemon=True).start()
ready.wait()
from streams.cpu_affinity import pin_process
pin_process(frozenset({int(sys.argv[1])}))
later = []
thread = threading.Thread(target=lambda: later.append(sorted(os.sched_getaffinity(0))))
thread.start(); thread.join()
tasks = [sorted(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")]
child = os.popen("grep Cpus_allowed_list /proc/self/status").read().split()[-1]
print(len(tasks), all(t == later[0] for t in tasks), later[0], child)
"""


def test_every_thread_moves_and_later_threads_and_children_follow() -> None:
    core = max(os.sched_getaffinity(0))
    out = subprocess.run([sys.executable, "-c", PROBE, str(core)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2]).stdout.split()  # fmt: skip
    threads, same, later, child = out
    assert int(threads) >= 2 and same == "True"
    assert later == f"[{core}]" and child == str(core)


def test_a_core_the_machine_lacks_names_the_cores_it_has() -> None:
    before = os.sched_getaffinity(0)
    with pytest.raises(StreamdecideError, match=rf"cannot run on cores {MISSING_CORE}: .*this machine has cores 0"):
        pin_process(frozenset({MISSING_CORE}))
    assert os.sched_getaffinity(0) == before


def test_no_cores_leaves_the_process_where_it_was() -> None:
    before = os.sched_getaffinity(0)
    pin_process(frozenset())
    assert os.sched_getaffinity(0) == before


@pytest.mark.parametrize("text", ["0", "0,2-3", "1-2,5,7-9", ""])
def test_cpulists_round_trip(text: str) -> None:
    assert format_cpulist(parse_cpulist(text)) == text


def test_the_setting_reads_a_cpulist_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_AFFINITY_SETTING, "3, 1-2")
    settings = Settings(_env_file=None)
    assert settings.cpu_affinity == "1-3" and settings.cpu_cores == frozenset({1, 2, 3})


def test_a_bad_cpulist_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(CPU_AFFINITY_SETTING, "1-x")
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and CPU_AFFINITY_SETTING in err and "not a core number or range" in err


def test_a_worker_on_a_missing_core_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    before = os.sched_getaffinity(0)
    monkeypatch.setenv("STREAMDECIDE_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("STREAMDECIDE_TRITON_URL", "127.0.0.1:1")
    monkeypatch.setenv(CPU_AFFINITY_SETTING, str(MISSING_CORE))
    assert main(["worker"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot run on cores {MISSING_CORE}" in err
    assert os.sched_getaffinity(0) == before


def test_a_bench_child_runs_on_its_core(tmp_path: Path) -> None:
    """``start_child`` hands the child its core; the child moves there at start (its broker need not answer)."""
    core = min(os.sched_getaffinity(0))
    settings = Settings(_env_file=None, data_dir=tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    child = start_child(settings, "streams.passthrough", "pinned", core=core)
    try:
        assert child.env is not None and child.env[CPU_AFFINITY_SETTING] == str(core)
        deadline, allowed = time.monotonic() + 30, set()
        while time.monotonic() < deadline and allowed != {str(core)}:
            time.sleep(0.2)
            allowed = {_allowed(child.pid, task) for task in os.listdir(f"/proc/{child.pid}/task")}
        assert allowed == {str(core)}
    finally:
        child.stop()


def _allowed(pid: int | None, task: str) -> str:
    return Path(f"/proc/{pid}/task/{task}/status").read_text().split("Cpus_allowed_list:")[1].split()[0]


def test_layouts_leave_a_core_for_the_rest() -> None:
    assert core_layout(frozenset({0}), 1) is None
    layout = core_layout(frozenset({0, 1, 2}), 1)
    assert layout is not None and layout.workers == (2,) and layout.rest == frozenset({0, 1})
