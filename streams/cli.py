"""The ``streamdecide`` command line: the one place that builds :class:`Settings`.

Bad arguments and expected failures print one readable line and exit non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from schemas.errors import StreamdecideError
from streams.instructions import COUNTED_CHILD_FLAG
from streams.settings import Settings
from streams.topics import ALL_TOPICS, EVENT_TOPICS

EXIT_USAGE = 2
EXIT_FAILED = 1
MODELS = ("ctr", "conversion", "fraud", "query_intent")
REFIT_MODELS = ("ctr", "conversion", "fraud")
"""Models ``refit`` and ``rollback`` know (the tabular ones)."""
BENCH_EVENTS = 60_000
"""Events per saturation phase of ``streamdecide bench``: about 6 s of a bare passthrough and 15 s of
deciding here. At 20,000 the passthrough's phase lasted 1.5-2.3 s, and five runs of one commit gave
ratios of 0.29-0.55; at 60,000 two runs gave 0.36 and 0.38 (BENCHMARKS.md)."""
PURE_BATCH_SIZE = 128
"""Micro-batch size of ``streamdecide bench --pure``: about what an agent takes at saturation (101-167 clicks,
86-124 searches per batch in the bench runs of 2026-12-07)."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``streamdecide: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    """argparse type: a positive number of ``kind``."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
        return value

    return parse


def instant(text: str) -> datetime:
    """argparse type: an ISO-8601 time with a zone (``2026-11-23T08:00:00+00:00``).

    Examples
    --------
    >>> instant("2026-11-23T08:00:00Z").isoformat()
    '2026-11-23T08:00:00+00:00'
    """
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO-8601 time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add Z or +00:00)")
    return value


def build_parser() -> OneLineParser:
    """All verbs of the contract (DESIGN.md §2)."""
    parser = OneLineParser(prog="streamdecide", description="Real-time ad-bid, price and fraud decisions.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    sub.add_parser("up", help="the whole service in the foreground (embedded broker/Triton unless configured)")
    demo = sub.add_parser("demo", help="up + synthetic traffic + live view; JSON summary as the last line")
    demo.add_argument("--duration", type=positive(float), default=None, help="seconds of traffic, then stop")
    demo.add_argument("--rate", type=positive(float), default=200.0, help="events per second (default 200)")
    demo.add_argument("--seed", type=int, default=None, help="generator seed (default: settings.seed)")
    sub.add_parser("broker", help="the embedded Kafka-protocol broker alone (foreground)")
    sub.add_parser("triton", help="the embedded tritonserver alone (foreground)")
    sub.add_parser("worker", help="the Faust worker against the configured broker and Triton")
    produce = sub.add_parser("produce", help="publish synthetic traffic or a JSONL file")
    source = produce.add_mutually_exclusive_group(required=True)
    source.add_argument("--synthetic", action="store_true", help="seeded synthetic traffic")
    source.add_argument("--file", type=Path, help="JSONL file, one message per line")
    produce.add_argument("--topic", choices=EVENT_TOPICS + ("catalog.products", "catalog.campaigns"))
    produce.add_argument("--rate", type=positive(float), default=200.0)
    produce.add_argument("--duration", type=positive(float), default=None)
    produce.add_argument("--scenario", default=None)
    produce.add_argument("--seed", type=int, default=None)
    produce.add_argument("--closed-loop", action="store_true",
                         help="answer the service's bids with win notices and clicks (read from decisions.bids)")
    tail = sub.add_parser("tail", help="print messages of a topic as they arrive")
    tail.add_argument("topic", choices=ALL_TOPICS, metavar="TOPIC")
    tail.add_argument("--json", action="store_true", help="raw JSON lines")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--limit", type=positive(int), default=None, help="stop after N messages")
    train = sub.add_parser("train", help="train models into the model repository")
    train.add_argument("model", nargs="?", choices=MODELS)
    train.add_argument("--if-missing", action="store_true", help="skip models that already have a version")
    sub.add_parser("models", help="model versions and their held-out metrics")
    refit = sub.add_parser("refit", help="fit a candidate on recent + replayed examples, shadow it, promote or reject")
    refit.add_argument("model", choices=REFIT_MODELS, metavar="MODEL", help=f"one of {', '.join(REFIT_MODELS)}")
    refit.add_argument("--examples", type=Path, default=None,
                       help="example store directory (default DATA_DIR/examples/MODEL)")
    refit.add_argument("--shadow-examples", type=positive(int), default=None,
                       help="labelled shadow examples before deciding (default: settings)")
    refit.add_argument("--since", type=instant, default=None, metavar="ISO_TIME",
                       help="change point: train recent data labelled from then on, replay the older "
                            "(set by drift-triggered refits)")
    rollback = sub.add_parser("rollback", help="make the previously live version of MODEL live again")
    rollback.add_argument("model", choices=REFIT_MODELS, metavar="MODEL", help=f"one of {', '.join(REFIT_MODELS)}")
    report = sub.add_parser("report", help="HTML + PNG report of the run on the configured broker (throughput, "
                                           "latency, decision mix, drift alerts, model events, DLQ)")
    report.add_argument("--out", type=Path, default=None, metavar="PATH",
                        help="HTML file to write, the PNG goes next to it (default DATA_DIR/report.html)")
    report.add_argument("--bin-seconds", type=positive(float), default=None, metavar="S",
                        help="time bin width (default: automatic)")
    report.add_argument("--timeout", type=positive(float), default=120.0, metavar="S",
                        help="seconds allowed to read the topics to their end offsets (default 120)")
    bench = sub.add_parser("bench", help="passthrough vs decision path throughput, latency, Triton batching")
    bench.add_argument("--events", type=positive(int), default=BENCH_EVENTS,
                       help=f"events per saturation phase (default {BENCH_EVENTS:,})")
    bench.add_argument("--latency-seconds", type=positive(float), default=20.0, help="length of the latency phase")
    bench.add_argument("--fraction", type=positive(float), default=0.5, help="latency-phase rate / saturation")
    bench.add_argument("--seed", type=int, default=None)
    bench.add_argument("--workers", type=positive(int), default=1,
                       help="processes per phase, one consumer group (at most topic_partitions)")
    bench.add_argument("--pin-cores", action=argparse.BooleanOptionalAction, default=True,
                       help="each worker on a core of its own, broker and Triton on the rest (where the cores allow)")
    bench.add_argument("--slot-deadlines", action=argparse.BooleanOptionalAction, default=False,
                       help="keep the preloaded ad slots' tmax_ms (every saturated bid is then late and skips scoring)")
    bench.add_argument("--pure", action="store_true",
                       help="only the decision path in this process, no Kafka or Triton: CPU per event and a "
                            "digest of the decisions (equal digests, equal decisions)")
    bench.add_argument("--batch-size", type=positive(int), default=PURE_BATCH_SIZE,
                       help=f"with --pure: records per micro-batch and input topic (default {PURE_BATCH_SIZE})")
    bench.add_argument("--instructions", action="store_true",
                       help="with --pure: count the instructions deciding takes per event under valgrind's callgrind "
                            "(the same from run to run, unlike CPU time on a shared host; about 60x slower)")
    bench.add_argument(COUNTED_CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)
    bench.add_argument("--profile", type=positive(int), default=None, metavar="N",
                       help="with --pure: run under cProfile and list the N functions with the most cumulative time")
    return parser


def _until_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` blocks stop the children."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def _foreground(start: Callable[[], str], stop: Callable[[], None]) -> int:
    """Start a service, print the line ``start`` returns, block until Ctrl-C/SIGTERM, then stop it."""
    _stop_on_sigterm()
    try:
        print(start(), flush=True)
        _until_signal()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from streams.runtime import Stack

    stack = Stack(settings)

    def start() -> str:
        effective = stack.start()
        return (f"streamdecide up: kafka={effective.kafka_bootstrap} triton={effective.triton_url} "
                f"logs={stack.logs} (Ctrl-C to stop)")

    return _foreground(start, stack.stop)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from schemas.codec import encode
    from streams.demo import apply_demo_learning_env, run_demo, write_demo_report
    from streams.runtime import Stack

    apply_demo_learning_env()
    stack = Stack(settings)
    _stop_on_sigterm()
    effective: Settings | None = None
    try:
        effective = stack.start()
        print(f"stack up: kafka={effective.kafka_bootstrap} triton={effective.triton_url} logs={stack.logs}", flush=True)
        summary = asyncio.run(
            run_demo(effective, duration_s=args.duration, rate_eps=args.rate,
                     seed=settings.seed if args.seed is None else args.seed, emit=lambda s: print(s, flush=True))
        )
        summary["report"] = write_demo_report(effective, emit=lambda s: print(s, flush=True))
    except KeyboardInterrupt:
        if effective is not None:  # Ctrl-C ends the traffic; the children run in their own sessions, still up
            try:
                write_demo_report(effective, emit=lambda s: print(s, flush=True))
            except KeyboardInterrupt:
                pass
        return 0
    finally:
        stack.stop()
    print(encode(summary).decode(), flush=True)
    return 0


def cmd_broker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.embedded.broker import EmbeddedBroker

    broker = EmbeddedBroker()

    def start() -> str:
        broker.start(settings.broker_port, settings.data_dir / "logs" / "broker.log")
        return f"broker ready on {broker.bootstrap} (Ctrl-C to stop)"

    return _foreground(start, broker.stop)


def cmd_triton(settings: Settings, args: argparse.Namespace) -> int:
    from streams.embedded.triton import EmbeddedTriton
    from streams.runtime import served_models

    triton = EmbeddedTriton()
    repository = settings.repository_dir.resolve()

    def start() -> str:
        triton.start(repository, served_models(repository), settings.triton_http_port, settings.triton_grpc_port,
                     settings.triton_metrics_port, settings.data_dir / "logs" / "triton.log", settings.data_dir.resolve())
        return f"triton ready: grpc {triton.grpc_url}, http {triton.http_url} (Ctrl-C to stop)"

    return _foreground(start, triton.stop)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    missing = [n for n, v in (("KAFKA_BOOTSTRAP", settings.kafka_bootstrap), ("TRITON_URL", settings.triton_url)) if not v]
    if missing:
        raise StreamdecideError(
            f"worker needs STREAMDECIDE_{' and STREAMDECIDE_'.join(missing)} (or use `streamdecide up`)"
        )
    run_worker(settings)
    return 0


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from schemas.codec import encode
    from streams.admin import ensure_topics, kafka_client_kwargs
    from streams.synthetic.produce import produce_file, produce_synthetic
    from streams.topics import topic_specs

    if not settings.kafka_bootstrap:
        raise StreamdecideError("produce needs STREAMDECIDE_KAFKA_BOOTSTRAP (the broker to publish to)")
    kwargs = kafka_client_kwargs(settings)

    async def run() -> object:
        await ensure_topics(settings.kafka_bootstrap or "", topic_specs(settings.topic_partitions),
                            replication_factor=settings.topic_replication, **kwargs)
        if args.file is not None:
            if not args.topic:
                raise StreamdecideError("produce --file needs --topic")
            return {"sent": await produce_file(settings.kafka_bootstrap or "", args.file, args.topic, kwargs)}
        return await produce_synthetic(
            settings.kafka_bootstrap or "", rate_eps=args.rate, duration_s=args.duration, max_events=None,
            seed=settings.seed if args.seed is None else args.seed, scenario=args.scenario, client_kwargs=kwargs,
            closed_loop=args.closed_loop,
        )

    _stop_on_sigterm()
    try:
        print(encode(asyncio.run(run())).decode(), flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_tail(settings: Settings, args: argparse.Namespace) -> int:
    from streams.admin import kafka_client_kwargs
    from streams.consume import follow
    from streams.tail import render

    if not settings.kafka_bootstrap:
        raise StreamdecideError("tail needs STREAMDECIDE_KAFKA_BOOTSTRAP")

    async def run() -> None:
        seen = 0
        async for record in follow(settings.kafka_bootstrap or "", [args.topic], from_beginning=args.from_beginning,
                                   client_kwargs=kafka_client_kwargs(settings)):
            print(render(record.topic, record.value, as_json=args.json), flush=True)
            seen += 1
            if args.limit is not None and seen >= args.limit:
                return

    _stop_on_sigterm()
    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    from triton_models.cli import train

    cards = train(settings, [args.model] if args.model else None, if_missing=args.if_missing)
    for card in cards:
        print(f"trained {card.model} v{card.version}: {card.summary()}", flush=True)
    return 0


def cmd_models(settings: Settings, args: argparse.Namespace) -> int:
    from triton_models.cli import describe

    rows = describe(settings)
    if not rows:
        print(f"no models in {settings.repository_dir}: run `streamdecide train`")
        return 0
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return 0


def cmd_refit(settings: Settings, args: argparse.Namespace) -> int:
    from schemas.codec import encode
    from streams.rollout import refit_and_roll_out

    if args.examples is not None and not args.examples.is_dir():
        raise StreamdecideError(f"--examples {args.examples}: not a directory")
    summary = asyncio.run(refit_and_roll_out(settings, args.model, args.examples, args.shadow_examples, args.since))
    print(encode(summary).decode(), flush=True)
    return 0 if summary["action"] == "promoted" else EXIT_FAILED


def cmd_rollback(settings: Settings, args: argparse.Namespace) -> int:
    from streams.rollout import roll_back

    event = asyncio.run(roll_back(settings, args.model))
    print(f"rolled back {event.model} v{event.version}: v{int(event.metrics['restored_version'])} is live", flush=True)
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from schemas.codec import encode
    from streams.report_source import write_run_report

    out = args.out if args.out is not None else settings.data_dir / "report.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise StreamdecideError(f"--out {out}: must end in .html (the PNG is written next to it)")
    written = asyncio.run(write_run_report(settings, out, bin_s=args.bin_seconds, timeout_s=args.timeout))
    print(f"report: {written.html} (figure: {written.png})", flush=True)
    print(encode({**written.report.summary.as_dict(), "html": str(written.html), "png": str(written.png)}).decode(),
          flush=True)
    return 0


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from schemas.codec import encode
    from streams.bench import run_bench

    seed = settings.seed if args.seed is None else args.seed
    if args.instructions and not args.pure:
        raise StreamdecideError("--instructions needs --pure (only the decision path on its own is counted)")
    if args.instructions and args.profile is not None:
        raise StreamdecideError("--instructions and --profile exclude each other (cProfile's own work would be counted)")
    if args.instructions:
        from streams.instructions import count_pure_path

        print(encode(count_pure_path(args.events, args.batch_size, seed)).decode(), flush=True)
        return 0
    if args.pure:
        from contextlib import nullcontext

        from streams.instructions import counting
        from streams.pure_path import run_pure_path

        pure = run_pure_path(settings, n_events=args.events, batch_size=args.batch_size, seed=seed,
                             profile_top=args.profile or 0, emit=lambda s: print(s, file=sys.stderr, flush=True),
                             around_deciding=counting if args.counted_child else nullcontext)  # fmt: skip
        print(encode(pure).decode(), flush=True)
        return 0
    if args.profile is not None:
        raise StreamdecideError("--profile needs --pure (the full bench profiles nothing itself)")
    if args.fraction > 1:
        raise StreamdecideError(f"--fraction {args.fraction} must be <= 1 (a share of the saturation rate)")
    if args.workers > settings.topic_partitions:
        raise StreamdecideError(
            f"--workers {args.workers} exceeds topic_partitions {settings.topic_partitions} (idle workers measure nothing)"
        )
    _stop_on_sigterm()
    result = run_bench(settings, n_events=args.events, latency_s=args.latency_seconds, fraction=args.fraction,
                       seed=seed, workers=args.workers,
                       pin_cores=args.pin_cores, slot_deadlines=args.slot_deadlines,
                       emit=lambda s: print(s, file=sys.stderr, flush=True))
    print(encode(result).decode(), flush=True)
    return 0


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "up": cmd_up, "demo": cmd_demo, "broker": cmd_broker, "triton": cmd_triton, "worker": cmd_worker,
    "produce": cmd_produce, "tail": cmd_tail, "train": cmd_train, "models": cmd_models, "bench": cmd_bench,
    "refit": cmd_refit, "rollback": cmd_rollback, "report": cmd_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``streamdecide`` console script."""
    from streams.logs import setup_logging

    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = "_".join(str(p) for p in first["loc"]).upper()
        print(f"streamdecide: error: setting STREAMDECIDE_{field}: {first['msg']}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(settings.log_level)
    try:
        return COMMANDS[args.command](settings, args)
    except StreamdecideError as exc:
        print(f"streamdecide: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
