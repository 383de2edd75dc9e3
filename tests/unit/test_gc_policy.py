"""The worker's garbage-collector policy: thresholds applied, start-up objects frozen only when asked."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.gc_policy import apply_gc_policy, freeze_long_lived
from streams.settings import GcPolicy, Settings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """Thresholds and the permanent generation as they were before the test."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_young_threshold_is_set_and_the_older_ones_kept(restored_gc: None) -> None:
    _, older, oldest = gc.get_threshold()
    apply_gc_policy(GcPolicy(young_threshold=12_345))
    assert gc.get_threshold() == (12_345, older, oldest)


def test_freezing_moves_live_objects_out_of_the_collectors_sight(restored_gc: None) -> None:
    gc.unfreeze()
    frozen = freeze_long_lived(GcPolicy(freeze_after_start=True))
    assert frozen > 1_000 and gc.get_freeze_count() > 1_000


def test_no_freeze_when_switched_off(restored_gc: None) -> None:
    gc.unfreeze()
    assert freeze_long_lived(GcPolicy(freeze_after_start=False)) == 0 == gc.get_freeze_count()


def test_the_policy_reads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMDECIDE_GC__YOUNG_THRESHOLD", "50000")
    monkeypatch.setenv("STREAMDECIDE_GC__FREEZE_AFTER_START", "false")
    assert Settings(_env_file=None).gc == GcPolicy(young_threshold=50_000, freeze_after_start=False)


def test_a_threshold_below_the_floor_is_refused() -> None:
    with pytest.raises(ValueError, match="young_threshold"):
        GcPolicy(young_threshold=10)
