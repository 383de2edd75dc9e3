"""Latency and dynamic-batching gain of the served models, measured against a real tritonserver.

Per model: the median latency of one request carrying 32 rows (sequential requests), and
the throughput of batch-1 requests sent one at a time versus 32 at once, side by side,
so the gain of Triton's dynamic batcher is their ratio. Run it with::

    .venv/bin/python -m triton_models.bench [--repository DIR] [--duration 5] [MODEL ...]

It starts an :class:`~streams.embedded.triton.EmbeddedTriton` on free ports, serving the
repository's newest versions, and prints one Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import tritonclient.grpc.aio as grpcclient

from agents.features import FEATURES_TENSOR, MODEL_FEATURES, PROBA_TENSOR
from streams.embedded.process import free_ports
from streams.embedded.triton import EmbeddedTriton
from streams.settings import Settings
from triton_models.query_intent.contract import CATEGORY_PROBA_TENSOR, LANGUAGE_TENSOR, TEXT_TENSOR
from triton_models.query_intent.contract import MODEL_NAME as QUERY_INTENT
from triton_models.query_intent.corpus import HELD_OUT_TEMPLATES, draw_queries

BATCH_ROWS: Final = 32
CONCURRENCY: Final = 32
LATENCY_REQUESTS: Final = 100
WARMUP_REQUESTS: Final = 5
DEFAULT_DURATION_S: Final = 5.0
CLIENT_TIMEOUT_S: Final = 30.0
MS_PER_S: Final = 1000.0
MODELS: Final[tuple[str, ...]] = (*MODEL_FEATURES, QUERY_INTENT)

Request = tuple[list[grpcclient.InferInput], list[grpcclient.InferRequestedOutput]]


@dataclass(frozen=True)
class ModelBench:
    """Figures of one model: batch-32 median latency and batch-1 throughput, sequential vs concurrent."""

    model: str
    p50_batch32_ms: float
    sequential_rps: float
    concurrent_rps: float

    @property
    def dynamic_batching_gain(self) -> float:
        """Concurrent over sequential batch-1 throughput.

        Examples
        --------
        >>> ModelBench("ctr", 1.0, 500.0, 4000.0).dynamic_batching_gain
        8.0
        """
        return self.concurrent_rps / self.sequential_rps


def request_factory(model: str, seed: int = 0) -> Callable[[int], Request]:
    """A function of ``rows`` building one request's inputs and requested outputs for ``model``."""
    rng = np.random.default_rng(seed)
    if model == QUERY_INTENT:
        texts = [q.text.encode() for q in draw_queries(BATCH_ROWS, seed, HELD_OUT_TEMPLATES, "bench")]

        def text_request(rows: int) -> Request:
            tensor = grpcclient.InferInput(TEXT_TENSOR, [rows, 1], "BYTES")
            picked = [texts[int(i)] for i in rng.integers(0, len(texts), rows)]
            tensor.set_data_from_numpy(np.array(picked, dtype=np.object_).reshape(-1, 1))
            outputs = [grpcclient.InferRequestedOutput(name) for name in (CATEGORY_PROBA_TENSOR, LANGUAGE_TENSOR)]
            return [tensor], outputs

        return text_request
    width = MODEL_FEATURES[model]

    def feature_request(rows: int) -> Request:
        tensor = grpcclient.InferInput(FEATURES_TENSOR, [rows, width], "FP32")
        tensor.set_data_from_numpy(rng.normal(size=(rows, width)).astype(np.float32))
        return [tensor], [grpcclient.InferRequestedOutput(PROBA_TENSOR)]

    return feature_request


async def _call(client: grpcclient.InferenceServerClient, model: str, request: Request) -> None:
    inputs, outputs = request
    await client.infer(model, inputs, outputs=outputs, client_timeout=CLIENT_TIMEOUT_S)


async def p50_latency_ms(
    client: grpcclient.InferenceServerClient, model: str, build: Callable[[int], Request]
) -> float:
    """Median latency of :data:`LATENCY_REQUESTS` sequential requests of :data:`BATCH_ROWS` rows."""
    for _ in range(WARMUP_REQUESTS):
        await _call(client, model, build(BATCH_ROWS))
    latencies = []
    for _ in range(LATENCY_REQUESTS):
        request = build(BATCH_ROWS)
        began = time.perf_counter()
        await _call(client, model, request)
        latencies.append((time.perf_counter() - began) * MS_PER_S)
    return statistics.median(latencies)


async def batch1_rps(
    client: grpcclient.InferenceServerClient, model: str, build: Callable[[int], Request], concurrency: int,
    duration_s: float,
) -> float:  # fmt: skip
    """Batch-1 requests per second with ``concurrency`` callers in flight for ``duration_s``."""
    requests = [build(1) for _ in range(concurrency)]
    deadline = time.perf_counter() + duration_s
    done = 0

    async def caller(request: Request) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await _call(client, model, request)
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(caller(r) for r in requests))
    return done / (time.perf_counter() - began)


async def bench_model(url: str, model: str, duration_s: float = DEFAULT_DURATION_S) -> ModelBench:
    """All figures of one served model."""
    build = request_factory(model)
    async with grpcclient.InferenceServerClient(url) as client:
        p50 = await p50_latency_ms(client, model, build)
        sequential = await batch1_rps(client, model, build, 1, duration_s)
        concurrent = await batch1_rps(client, model, build, CONCURRENCY, duration_s)
    return ModelBench(model, p50, sequential, concurrent)


def run_bench(repository: Path, models: Sequence[str], duration_s: float = DEFAULT_DURATION_S) -> list[ModelBench]:
    """Start a tritonserver on free ports serving ``models`` from ``repository`` and bench each in turn."""
    with tempfile.TemporaryDirectory(prefix="streamdecide-bench-") as work:
        server = EmbeddedTriton()
        try:
            http_port, grpc_port, metrics_port = free_ports(3)
            server.start(repository, list(models), http_port, grpc_port, metrics_port, Path(work) / "tritonserver.log",
                         Path(work))  # fmt: skip
            return [asyncio.run(bench_model(server.grpc_url, model, duration_s)) for model in models]
        finally:
            server.stop()


def markdown_table(results: Sequence[ModelBench]) -> str:
    """The figures as a Markdown table.

    Examples
    --------
    >>> print(markdown_table([ModelBench("ctr", 0.84, 512.0, 4096.0)]))
    | model | p50 batch-32 (ms) | batch-1 sequential (req/s) | batch-1 × 32 concurrent (req/s) | dynamic batching gain |
    |---|---|---|---|---|
    | ctr | 0.84 | 512 | 4096 | 8.0× |
    """
    lines = [
        "| model | p50 batch-32 (ms) | batch-1 sequential (req/s) | batch-1 × 32 concurrent (req/s) "
        "| dynamic batching gain |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.model} | {r.p50_batch32_ms:.2f} | {r.sequential_rps:.0f} | {r.concurrent_rps:.0f} "
        f"| {r.dynamic_batching_gain:.1f}× |"
        for r in results
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: bench the newest versions in a repository and print the table."""
    parser = argparse.ArgumentParser(prog="python -m triton_models.bench", description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help=f"among {', '.join(MODELS)} (default: all)")
    parser.add_argument("--repository", type=Path, default=None, help="default: the settings' model repository")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="seconds per throughput run")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    repository = args.repository or Settings().repository_dir
    print(markdown_table(run_bench(repository, args.models or list(MODELS), args.duration)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
