"""``streamdecide bench --pure``: the worker's decision path in process, deterministic, every owed decision made."""

from __future__ import annotations

import gc
import json
import shutil

import pytest

from streams.cli import main
from streams.instructions import count_pure_path
from streams.pure_path import run_pure_path
from streams.settings import Settings
from streams.topics import BIDS, FRAUD, PRICES

EVENTS = 1_500


def test_two_runs_make_the_same_decisions_and_every_owed_one() -> None:
    settings = Settings(_env_file=None)
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    first = run_pure_path(settings, n_events=EVENTS, batch_size=64, seed=7)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (thresholds, frozen)  # the caller's collector as it was
    again = run_pure_path(settings, n_events=EVENTS, batch_size=64, seed=7)
    assert first["digest"] == again["digest"] and len(first["digest"]) == 16
    assert sum(first["decisions"].values()) == first["decisions_expected"] > 0
    assert set(first["decisions"]) <= {BIDS, PRICES, FRAUD} and first["decisions"][BIDS] > 0
    assert first["cpu_us_per_event"] > 0 and first["table_bytes_per_event"] > 0 and not first["profiled"]
    other = run_pure_path(settings, n_events=EVENTS, batch_size=64, seed=8)
    assert other["digest"] != first["digest"]


def test_batch_size_changes_nothing_decided_by_event_order_alone() -> None:
    settings = Settings(_env_file=None)
    small = run_pure_path(settings, n_events=EVENTS, batch_size=16, seed=7)
    large = run_pure_path(settings, n_events=EVENTS, batch_size=256, seed=7)
    assert small["decisions"] == large["decisions"]


def test_cli_prints_one_json_object_with_the_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--pure", "--events", "800", "--batch-size", "32", "--profile", "5"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["events"] == 800 and out["profiled"] and len(out["top_cumulative"]) == 5
    assert all(0 < row["share"] <= 1 and row["calls"] > 0 for row in out["top_cumulative"])


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instructions_are_counted_around_deciding_alone_and_repeat() -> None:
    first = count_pure_path(400, 64, 7)
    again = count_pure_path(400, 64, 7)
    plain = run_pure_path(Settings(_env_file=None), n_events=400, batch_size=64, seed=7)
    assert first["digest"] == again["digest"] == plain["digest"]
    assert first["decisions"] == plain["decisions"]
    assert 10_000 < first["instructions_per_event"] < 50_000_000
    assert abs(first["instructions"] - again["instructions"]) < 0.01 * first["instructions"]
    longer = count_pure_path(800, 64, 7)  # twice the events: about twice the instructions, start-up not counted
    assert 1.6 < longer["instructions"] / first["instructions"] < 2.4
