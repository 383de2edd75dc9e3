"""The live-version registry folded from model events, its cache, and the CLI's view of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.learning.live import LiveVersions, ModelState, cached_live_versions
from schemas.ops import ModelAction, ModelEvent
from streams.cli import build_parser
from streams.settings import Settings
from triton_models.card import Calibration, DataDescription, HeldOutMetrics, ModelCard
from triton_models.cli import describe

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(version: int, action: ModelAction, step: int = 0, model: str = "ctr", **metrics: float) -> ModelEvent:
    return ModelEvent(model=model, version=version, action=action, metrics=metrics, at=T0 + timedelta(seconds=step))


def replay(events: list[ModelEvent]) -> LiveVersions:
    live = LiveVersions()
    for e in events:
        live.apply(e)
    return live


def test_full_lifecycle() -> None:
    live = replay([
        event(1, "promoted"),
        event(2, "trained"), event(2, "loaded", live_version=1.0), event(2, "shadow", live_version=1.0),
    ])  # fmt: skip
    assert (live.live("ctr"), live.shadow("ctr")) == (1, 2)
    live.apply(event(2, "promoted"))
    assert (live.live("ctr"), live.shadow("ctr"), live.previous("ctr")) == (2, None, 1)
    live.apply(event(3, "trained"))
    live.apply(event(3, "shadow", live_version=2.0))
    live.apply(event(3, "rejected"))
    assert (live.live("ctr"), live.shadow("ctr")) == (2, None)
    live.apply(event(2, "rolled_back", restored_version=1.0))
    assert (live.live("ctr"), live.previous("ctr")) == (1, None)
    assert live.applied == 9


def test_models_are_independent_and_unknown_is_none() -> None:
    live = replay([event(4, "promoted", model="fraud"), event(2, "promoted")])
    assert live.live("fraud") == 4 and live.live("ctr") == 2 and live.live("conversion") is None
    assert live.shadow("conversion") is None and live.previous("conversion") is None


def test_rollback_of_a_version_that_is_not_live_is_ignored() -> None:
    live = replay([event(1, "promoted"), event(2, "promoted"), event(1, "rolled_back", restored_version=9.0)])
    assert live.live("ctr") == 2 and live.previous("ctr") == 1


def test_rollback_without_restored_metric_pops_previous() -> None:
    live = replay([event(1, "promoted"), event(2, "promoted"), event(3, "promoted"), event(3, "rolled_back")])
    assert live.live("ctr") == 2 and live.previous("ctr") == 1


def test_replaying_the_same_promotion_twice_is_harmless() -> None:
    live = replay([event(1, "promoted"), event(2, "promoted"), event(2, "promoted")])
    assert live.live("ctr") == 2 and live.states["ctr"].previous == [1]


def test_loaded_sets_live_only_when_unknown() -> None:
    live = replay([event(3, "promoted"), event(4, "loaded", live_version=1.0)])
    assert live.live("ctr") == 3


def test_listeners_see_every_event() -> None:
    live, seen = LiveVersions(), []
    live.listeners.append(seen.append)
    live.apply(event(1, "promoted"))
    assert [e.action for e in seen] == ["promoted"]


def test_cache_round_trip_and_garbage(tmp_path: Path) -> None:
    LiveVersions({"ctr": ModelState(live=2, shadow=3, previous=[1])}).save(tmp_path)
    again = LiveVersions.load(tmp_path)
    assert (again.live("ctr"), again.shadow("ctr"), again.previous("ctr")) == (2, 3, 1)
    assert cached_live_versions(tmp_path) == {"ctr": 2}
    (tmp_path / "models" / "live.json").write_text("{not json")
    assert cached_live_versions(tmp_path) == {}


def _card(model: str) -> ModelCard:
    metrics = HeldOutMetrics(auc=0.7, pr_auc=0.1, log_loss=0.1, ece=0.01, base_rate=0.02, n=10)
    return ModelCard(model=model, version=0, created_at=T0, seed=1, training_seconds=1.0, feature_width=3,
                     data=DataDescription(source="t", rows=10, train_rows=6, calibration_rows=2, test_rows=2),
                     metrics=metrics, calibration=Calibration(temperature=1.0, bias=0.0))  # fmt: skip


def test_models_command_marks_the_cached_live_version(tmp_path: Path) -> None:
    import torch

    from triton_models.nets import MLP, CalibratedClassifier, to_artifact
    from triton_models.repository import write_version

    repository, data_dir = tmp_path / "repo", tmp_path / "data"
    artifact = to_artifact(CalibratedClassifier(MLP(3, (2,))))
    for _ in range(3):
        write_version(repository, _card("ctr"), artifact)
    settings = Settings(_env_file=None, data_dir=data_dir, model_repository=repository)
    assert [r["version"] for r in describe(settings) if r["live"]] == [3]  # no cache: the newest
    LiveVersions({"ctr": ModelState(live=2, previous=[1])}).save(data_dir)
    assert [r["version"] for r in describe(settings) if r["live"]] == [2]
    assert torch.load(repository / "ctr" / "2" / "weights.pt", weights_only=True)["in_features"] == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["refit"], "the following arguments are required: MODEL"),
        (["refit", "query_intent"], "invalid choice: 'query_intent'"),
        (["refit", "ctr", "--shadow-examples", "0"], "'0' must be > 0"),
        (["refit", "ctr", "--shadow-examples", "x"], "'x' is not a number"),
        (["rollback"], "the following arguments are required: MODEL"),
        (["rollback", "ctr", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_bad_refit_and_rollback_arguments_are_one_line(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and err.count("\n") == 1


def test_refit_arguments_parse() -> None:
    args = build_parser().parse_args(["refit", "fraud", "--examples", "/tmp/x", "--shadow-examples", "50"])
    assert (args.model, str(args.examples), args.shadow_examples) == ("fraud", "/tmp/x", 50)
