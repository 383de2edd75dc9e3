"""``streamdecide bench --pure --instructions``: instructions per event of the decision path, counted by callgrind.

Timings on a shared two-core VM wander by 20 % and more between runs of unchanged code
(``BENCHMARKS.md``), so a change worth 5 % cannot be shown with them. Valgrind's callgrind
counts the instructions the CPU executes instead, which is the same from run to run for the
same code, events and hash seed. The pure path runs in a child process under callgrind with
instrumentation off; the child switches it on just around deciding (``callgrind_control -i
on``), off after, and dumps the counters, so start-up, imports and building the events are
not counted. Instructions are not time (a cache miss costs more than an average instruction),
but a change that removes work removes instructions, and one that adds work adds them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from schemas.errors import StreamdecideError

VALGRIND = "valgrind"
CALLGRIND_CONTROL = "callgrind_control"
DUMP_NAME = "deciding"
"""The dump the child triggers once deciding is done (its trigger names it)."""
HASH_SEED = "0"
"""Python's string hashing is seeded per process; a fixed seed keeps dict and set layouts, and the count, repeatable."""
COUNTED_CHILD_FLAG = "--counted-child"
"""Hidden ``bench`` flag: this process runs under callgrind and counts its deciding."""
_TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)


def tools() -> tuple[str, str]:
    """Paths of ``valgrind`` and ``callgrind_control``; one readable error when either is missing."""
    found = shutil.which(VALGRIND), shutil.which(CALLGRIND_CONTROL)
    if None in found:
        raise StreamdecideError("--instructions needs valgrind (with callgrind_control) on PATH; apt install valgrind")
    return found[0], found[1]  # type: ignore[return-value]


@contextmanager
def counting() -> Iterator[None]:
    """Count this process's instructions inside the block (it must run under ``valgrind --tool=callgrind``)."""
    _control("-i", "on")
    try:
        yield
    finally:
        _control("-i", "off")
        _control(f"--dump={DUMP_NAME}")


def _control(*args: str) -> None:
    subprocess.run([CALLGRIND_CONTROL, *args, str(os.getpid())], check=True, capture_output=True)


def dumped_instructions(dump: str) -> int | None:
    """The instructions of a callgrind dump that :func:`counting` triggered (None for any other dump).

    Examples
    --------
    >>> dumped_instructions("desc: Trigger: dump deciding\\nsummary: 0\\ntotals: 1234\\n")
    1234
    >>> dumped_instructions("desc: Trigger: Program termination\\ntotals: 0\\n") is None
    True
    """
    if f"Trigger: dump {DUMP_NAME}" not in dump:
        return None
    found = _TOTALS.search(dump)
    return int(found.group(1)) if found else None


def count_pure_path(n_events: int, batch_size: int, seed: int) -> dict[str, Any]:
    """Run ``bench --pure`` under callgrind; its decisions and digest with the instructions deciding took per event."""
    valgrind, _ = tools()
    version = subprocess.run([valgrind, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="streamdecide-callgrind-") as workdir:
        command = [
            valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={workdir}/callgrind.out.%p",
            sys.executable, "-m", "streams.cli", "bench", "--pure", "--events", str(n_events),
            "--batch-size", str(batch_size), "--seed", str(seed), COUNTED_CHILD_FLAG,
        ]  # fmt: skip
        child = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": HASH_SEED},
                               check=False)  # fmt: skip
        if child.returncode != 0:
            detail = (child.stderr.strip().splitlines() or ["no output"])[-1]
            raise StreamdecideError(f"the counted pure path failed (exit {child.returncode}): {detail[:200]}")
        counts = [n for path in Path(workdir).glob("callgrind.out.*")
                  if (n := dumped_instructions(path.read_text(errors="replace"))) is not None]  # fmt: skip
    if len(counts) != 1:
        raise StreamdecideError(f"expected one callgrind dump of deciding, found {len(counts)}")
    pure = orjson.loads(child.stdout.strip().splitlines()[-1])
    return {
        "events": pure["events"], "batch_size": pure["batch_size"], "seed": pure["seed"],
        "decisions": pure["decisions"], "digest": pure["digest"],
        "instructions_per_event": round(counts[0] / n_events), "instructions": counts[0],
        "counted_by": f"{version} callgrind", "python_hash_seed": int(HASH_SEED),
    }  # fmt: skip
