"""A bounded local store of labelled examples per model: a recent window plus a replay reservoir.

Files under ``settings.data_dir / "examples" / model``: ``recent.jsonl`` (appended line
by line), ``replay.jsonl`` and ``state.json`` (how many older examples the reservoir
has seen). When the recent file grows past its window by a slack, the oldest recent
examples move into the reservoir (Algorithm R) and both files are rewritten whole
(staged and renamed), so a crash leaves either the old or the new state. One lock
serialises the store's methods: the worker extends it from executor threads, one per
agent batch, so two batches' labels may arrive at once.
"""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Final

from schemas.codec import encode
from schemas.learning import LabelledExample

RECENT_FILE: Final = "recent.jsonl"
REPLAY_FILE: Final = "replay.jsonl"
STATE_FILE: Final = "state.json"
EXAMPLES_DIR: Final = "examples"
COMPACT_SLACK: Final = 0.25
"""The recent file may hold this share more than its window before older examples move to replay."""
STAGING_SUFFIX: Final = ".staging"


def examples_dir(data_dir: Path, model: str) -> Path:
    """The directory of ``model``'s examples under ``data_dir``.

    Examples
    --------
    >>> examples_dir(Path("var"), "ctr").as_posix()
    'var/examples/ctr'
    """
    return data_dir / EXAMPLES_DIR / model


def _read_lines(path: Path) -> list[LabelledExample]:
    if not path.is_file():
        return []
    out = []
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                out.append(LabelledExample.model_validate_json(line))
    return out


def _write_lines(path: Path, examples: Iterable[LabelledExample]) -> None:
    staged = path.with_name(path.name + STAGING_SUFFIX)
    with staged.open("wb") as handle:
        for example in examples:
            handle.write(encode(example) + b"\n")
    staged.replace(path)


class ExampleStore:
    """Recent window and reservoir-sampled replay of one model's labelled examples, on disk.

    Parameters
    ----------
    directory
        Where the files live (created on first write).
    recent_window
        Newest examples kept in the recent window.
    replay_size
        Older examples kept in the replay reservoir (uniform sample of all older ones).
    seed
        Seeds the reservoir's draws (deterministic across restarts).

    Examples
    --------
    >>> import tempfile
    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> def ex(i):
    ...     return LabelledExample(model="ctr", decision_id=f"d{i}", features=[float(i)], score=0.5,
    ...                            model_version="ctr:1", label=i % 2 == 0, decided_at=t, labelled_at=t)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     store = ExampleStore(Path(d), recent_window=4, replay_size=3, seed=0)
    ...     store.extend(ex(i) for i in range(20))
    ...     again = ExampleStore(Path(d), recent_window=4, replay_size=3, seed=0)
    >>> [e.decision_id for e in again.recent()], len(again.replay()), again.seen_old
    (['d16', 'd17', 'd18', 'd19'], 3, 16)
    """

    def __init__(self, directory: Path, recent_window: int, replay_size: int, seed: int = 0) -> None:
        if recent_window < 1 or replay_size < 0:
            raise ValueError(f"need recent_window >= 1 and replay_size >= 0, got {recent_window}, {replay_size}")
        self.directory = directory
        self.recent_window = recent_window
        self.replay_size = replay_size
        self.seed = seed
        self._lock = threading.Lock()
        self._file_limit = recent_window + max(1, int(recent_window * COMPACT_SLACK))
        self._replay: list[LabelledExample] = _read_lines(directory / REPLAY_FILE)
        state_path = directory / STATE_FILE
        self.seen_old = int(json.loads(state_path.read_text())["seen_old"]) if state_path.is_file() else 0
        self._recent: deque[LabelledExample] = deque()
        on_file = _read_lines(directory / RECENT_FILE)
        for example in on_file:
            self._push(example)
        self._file_lines = len(on_file)

    def __len__(self) -> int:
        with self._lock:
            return len(self._recent) + len(self._replay)

    def append(self, example: LabelledExample) -> None:
        """Add one example (appended to the recent file at once)."""
        self.extend([example])

    def extend(self, examples: Iterable[LabelledExample]) -> None:
        """Add examples in order; the oldest recent ones move to replay when the window overflows."""
        batch = list(examples)
        if not batch:
            return
        lines = b"".join(encode(example) + b"\n" for example in batch)
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with (self.directory / RECENT_FILE).open("ab") as handle:
                handle.write(lines)
            self._file_lines += len(batch)
            for example in batch:
                self._push(example)
            if self._file_lines > self._file_limit:
                self._rewrite()

    def recent(self) -> list[LabelledExample]:
        """The newest ``recent_window`` examples, oldest first."""
        with self._lock:
            return list(self._recent)

    def replay(self) -> list[LabelledExample]:
        """The reservoir: a uniform sample of the examples older than the recent window."""
        with self._lock:
            return list(self._replay)

    def since(self, change_at: datetime) -> tuple[list[LabelledExample], list[LabelledExample]]:
        """Split at a change point: examples labelled from ``change_at`` on, and every older one (replay).

        The first list is the new regime a refit must learn (its newest ``recent_window``);
        the second is the reservoir plus the recent window's pre-change part, which the
        refit replays so the candidate does not forget the old regime.

        Examples
        --------
        >>> import tempfile
        >>> from datetime import UTC, timedelta
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> def ex(i):
        ...     return LabelledExample(model="ctr", decision_id=f"d{i}", features=[0.0], score=0.5, label=True,
        ...                            model_version="ctr:1", decided_at=t, labelled_at=t + timedelta(seconds=i))
        >>> with tempfile.TemporaryDirectory() as d:
        ...     store = ExampleStore(Path(d), recent_window=6, replay_size=2, seed=0)
        ...     store.extend(ex(i) for i in range(10))
        ...     new, old = store.since(t + timedelta(seconds=7))
        >>> [e.decision_id for e in new], len(old)
        (['d7', 'd8', 'd9'], 5)
        """
        with self._lock:
            new = [e for e in self._recent if e.labelled_at >= change_at]
            old = [e for e in self._recent if e.labelled_at < change_at]
            return new[-self.recent_window :], [*self._replay, *old]

    def _push(self, example: LabelledExample) -> None:
        self._recent.append(example)
        if len(self._recent) > self.recent_window:
            self._admit(self._recent.popleft())

    def _admit(self, example: LabelledExample) -> None:
        """Algorithm R: the ``n``-th older example replaces a random slot with probability ``size / n``."""
        self.seen_old += 1
        if len(self._replay) < self.replay_size:
            self._replay.append(example)
            return
        slot = random.Random(f"{self.seed}/{self.seen_old}").randrange(self.seen_old)
        if slot < self.replay_size:
            self._replay[slot] = example

    def _rewrite(self) -> None:
        """Persist replay and state, then cut the recent file to the window.

        A crash between the two steps re-admits the cut examples on restart (a duplicate
        in replay at worst), never loses them.
        """
        _write_lines(self.directory / REPLAY_FILE, self._replay)
        state = self.directory / STATE_FILE
        staged = state.with_name(state.name + STAGING_SUFFIX)
        staged.write_text(json.dumps({"seen_old": self.seen_old}))
        staged.replace(state)
        _write_lines(self.directory / RECENT_FILE, self._recent)
        self._file_lines = len(self._recent)
