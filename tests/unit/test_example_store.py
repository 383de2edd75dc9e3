"""The bounded example store: recent window, reservoir replay, restarts, and what a refit reads from it."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.learning.store import RECENT_FILE, ExampleStore, examples_dir
from schemas.learning import LabelledExample
from streams.settings import Settings
from triton_models.refit import examples_to_dataset

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def example(i: int, width: int = 3) -> LabelledExample:
    return LabelledExample(
        model="ctr", decision_id=f"d{i}", features=[float(i)] * width, score=0.1, model_version="ctr:1",
        label=i % 3 == 0, decided_at=T0 + timedelta(seconds=i), labelled_at=T0 + timedelta(seconds=i + 1),
    )  # fmt: skip


def ids(examples: list[LabelledExample]) -> list[int]:
    return [int(e.decision_id[1:]) for e in examples]


def test_recent_window_keeps_the_newest_in_order(tmp_path: Path) -> None:
    store = ExampleStore(tmp_path, recent_window=5, replay_size=4, seed=1)
    for i in range(23):
        store.append(example(i))
    assert ids(store.recent()) == [18, 19, 20, 21, 22]
    replay = ids(store.replay())
    assert len(replay) == 4 and all(i < 18 for i in replay) and len(set(replay)) == 4
    assert store.seen_old == 18 and len(store) == 9


def test_survives_restart_exactly(tmp_path: Path) -> None:
    store = ExampleStore(tmp_path, recent_window=10, replay_size=6, seed=2)
    store.extend(example(i) for i in range(57))
    again = ExampleStore(tmp_path, recent_window=10, replay_size=6, seed=2)
    assert ids(again.recent()) == ids(store.recent()) and ids(again.replay()) == ids(store.replay())
    assert again.seen_old == store.seen_old == 47
    again.extend(example(i) for i in range(57, 60))
    assert ids(again.recent()) == list(range(50, 60))


def test_files_stay_bounded(tmp_path: Path) -> None:
    store = ExampleStore(tmp_path, recent_window=20, replay_size=10, seed=3)
    for i in range(0, 1000, 7):
        store.extend(example(j) for j in range(i, min(i + 7, 1000)))
    lines = (tmp_path / RECENT_FILE).read_bytes().count(b"\n")
    assert lines <= 20 + 5 + 7  # window + slack + one batch


def test_reservoir_is_a_uniform_sample_of_older_examples(tmp_path: Path) -> None:
    """Each older example lands in the replay with probability replay_size / seen_old."""
    hits: Counter[int] = Counter()
    runs, older, size = 200, 100, 10
    for seed in range(runs):
        store = ExampleStore(tmp_path / str(seed), recent_window=1, replay_size=size, seed=seed)
        store.extend(example(i, width=1) for i in range(older + 1))
        hits.update(ids(store.replay()))
    expected = runs * size / older  # 20 per example
    first, last = sum(hits[i] for i in range(50)), sum(hits[i] for i in range(50, 100))
    assert abs(first - last) < 0.25 * (first + last) and max(hits.values()) < 3 * expected


def test_refit_dataset_from_the_store(tmp_path: Path) -> None:
    store = ExampleStore(tmp_path, recent_window=4, replay_size=4, seed=0)
    store.extend(example(i) for i in range(10))
    store.append(example(10, width=5))  # another feature width (an old schema): skipped
    recent = examples_to_dataset(store.recent(), 3)
    assert recent.x.shape == (3, 3) and recent.y.tolist() == [0.0, 0.0, 1.0]


def test_rejects_bad_sizes_and_places_files_under_data_dir(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="recent_window >= 1"):
        ExampleStore(tmp_path, recent_window=0, replay_size=1)
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert examples_dir(settings.data_dir, "fraud") == tmp_path / "examples" / "fraud"
    assert not (tmp_path / "examples").exists()  # nothing written before the first example


async def test_a_drift_refit_trains_on_what_came_after_the_change_and_replays_the_rest(tmp_path: Path) -> None:
    from streams.rollout import refit_data
    from streams.settings import RefitPolicy

    store = ExampleStore(tmp_path, recent_window=50, replay_size=20, seed=1)
    store.extend(example(i) for i in range(120))
    change = example(100).labelled_at
    settings = Settings(_env_file=None, seed=1, refit=RefitPolicy(recent_window=50, replay_size=20, min_examples=20))
    recent, replay = await refit_data(settings, "ctr", tmp_path, since=change)
    assert ids(recent) == list(range(100, 120))
    assert len(replay) == 20 and all(i < 100 for i in ids(replay))
    assert ids((await refit_data(settings, "ctr", tmp_path))[0]) == list(range(70, 120))


async def test_a_drift_refit_waits_for_post_change_examples_then_gives_up(tmp_path: Path) -> None:
    from streams.rollout import refit_data
    from streams.settings import RefitPolicy

    ExampleStore(tmp_path, recent_window=50, replay_size=20).extend(example(i) for i in range(30))
    policy = RefitPolicy(recent_window=50, replay_size=20, min_examples=20, change_wait_s=0.2)
    recent, _ = await refit_data(Settings(_env_file=None, refit=policy), "ctr", tmp_path, since=example(25).labelled_at)
    assert ids(recent) == list(range(25, 30))


def test_batches_extended_from_several_threads_at_once_are_all_kept(tmp_path: Path) -> None:
    """The worker extends a store from executor threads; a rewrite must not meet another batch's append."""
    store = ExampleStore(tmp_path, recent_window=40, replay_size=4000, seed=4)
    batches = [[example(t * 1000 + i) for i in range(8)] for t in range(400)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(store.extend, batches))
    assert len(store.recent()) == 40
    assert store.seen_old == 400 * 8 - 40
    again = ExampleStore(tmp_path, recent_window=40, replay_size=4000, seed=4)
    kept = ids(again.recent()) + ids(again.replay())
    assert sorted(kept) == sorted(e_id for b in batches for e_id in ids(b))
