"""Bad command lines and bad settings get one readable line and a non-zero exit."""

from __future__ import annotations

import pytest

from streams.cli import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["demo", "--rate", "fast"], "--rate"),
        (["demo", "--duration", "-3"], "--duration"),
        (["launch"], "invalid choice"),
        (["tail", "events.nope"], "invalid choice"),
        (["produce"], "one of the arguments"),
        (["train", "gpt"], "invalid choice"),
        (["refit", "ctr", "--since", "yesterday"], "ISO-8601"),
        (["refit", "ctr", "--since", "2026-11-23T08:00:00"], "time zone"),
    ],
)
def test_bad_arguments_are_one_line(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.count("\n") == 1 and needle in err


def test_bad_setting_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STREAMDECIDE_BROKER_PORT", "not-a-port")
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "STREAMDECIDE_BROKER_PORT" in err


def test_worker_without_broker_says_what_is_missing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("STREAMDECIDE_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("STREAMDECIDE_TRITON_URL", raising=False)
    monkeypatch.chdir("/")
    assert main(["worker"]) == 1
    assert "STREAMDECIDE_KAFKA_BOOTSTRAP" in capsys.readouterr().err


def test_bench_refuses_more_workers_than_partitions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--workers", "9"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--workers 9 exceeds topic_partitions" in err


def test_bench_profile_needs_the_pure_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--profile", "10"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--profile needs --pure" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["bench", "--instructions"], "--instructions needs --pure"),
        (["bench", "--pure", "--instructions", "--profile", "5"], "--instructions and --profile exclude each other"),
    ],
)
def test_bench_instructions_refuses_what_it_cannot_count(
    args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


def test_bench_instructions_without_valgrind_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["bench", "--pure", "--instructions", "--events", "10"]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs valgrind" in err
