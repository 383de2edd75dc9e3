"""10,000 hostile messages among valid ones through the real broker, worker and Triton.

Each fuzz case owes an outcome (:mod:`streams.synthetic.fuzz`): a dead letter with
its reason, matched by the input record's (topic, partition, offset), or one decision
per promised decision topic, matched by ``event_id``. The worker must still be alive
and deciding at the end, log no crashed agent, and no raw personal data from the
inputs may appear in decisions, dead letters or the worker's log.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from streams.embedded.triton import EmbeddedTriton
from streams.synthetic.fuzz import CARD_NUMBERS, FuzzCase, fuzz_corpus, valid_messages
from streams.topics import CAMPAIGNS, DECISION_TOPICS, DLQ, FRAUD, PRODUCTS
from tests.integration.conftest import start_broker
from tests.integration.faults import Read, crash_lines, probe, read_topics, send_all
from tests.integration.pipeline import as_message, create_topics, start_worker
from tests.integration.test_pipeline import CAMPAIGN, PRODUCT

pytestmark = pytest.mark.integration

LIMIT = 65_536
"""The worker's ``max_message_bytes`` here: small, so oversized cases stay cheap."""
FUZZ = 10_000
VALID = 2_000
SEED = 20_261_124
PII_NEEDLES: tuple[str, ...] = ("@example.", "203.0.113.", "198.51.100.", *CARD_NUMBERS)
"""Every piece of personal data in the corpus holds one of these (its e-mail domains, IP ranges, card numbers)."""
SETTLE_TIMEOUT_S = 300.0
"""Upper bound on waiting for every outcome (a bound on the wait, not a speed requirement)."""


@pytest.fixture(scope="module")
def hostile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            triton: EmbeddedTriton) -> tuple[str, object, Path]:  # fmt: skip
    """A fresh broker with the catalog, and a worker with a 64 KiB message limit deciding against Triton."""
    bootstrap = start_broker(request, tmp_path_factory)
    asyncio.run(create_topics(bootstrap))
    asyncio.run(send_all(bootstrap, [as_message(PRODUCTS, PRODUCT), as_message(CAMPAIGNS, CAMPAIGN)]))
    data_dir = tmp_path_factory.mktemp("hostile-worker")
    worker = start_worker(bootstrap, triton.grpc_url, data_dir, max_message_bytes=str(LIMIT))
    request.addfinalizer(worker.stop)
    asyncio.run(probe(bootstrap, worker, FRAUD))
    return bootstrap, worker, data_dir / "worker.log"


class Outcomes:
    """What the corpus is owed, checked off as records are read (each record looked at once)."""

    def __init__(self, cases: list[FuzzCase], coords: list[tuple[str, int, int]]) -> None:
        self.dlq_owed = {coord: c for c, coord in zip(cases, coords) if c.expect == "dlq"}
        self.valid_coords = {coord for c, coord in zip(cases, coords) if c.expect == "decide"}
        self.decisions_owed = Counter((t, c.event_id) for c in cases if c.expect == "decide" for t in c.decisions)
        self.dlq_seen: dict[tuple[str, int, int], str] = {}
        self.decided: Counter[tuple[str, str]] = Counter()
        self.looked = 0

    def update(self, records: list[Read]) -> bool:
        for record in records[self.looked :]:
            if record.topic == DLQ:
                v = record.value
                self.dlq_seen[(v["source_topic"], v["partition"], v["offset"])] = v["error"].split(":")[0]
            else:
                self.decided[(record.topic, record.value["event_id"])] += 1
        self.looked = len(records)
        return self.dlq_owed.keys() <= self.dlq_seen.keys() and all(
            self.decided[k] >= n for k, n in self.decisions_owed.items()
        )


def interleave(fuzz: list[FuzzCase], valid: list[FuzzCase]) -> list[FuzzCase]:
    step = max(1, len(fuzz) // max(1, len(valid)))
    out: list[FuzzCase] = []
    for i, case in enumerate(fuzz):
        out.append(case)
        if i % step == step - 1 and valid:
            out.append(valid.pop())
    return out + valid


def raw_texts(records: list[Read]) -> list[bytes]:
    """Every record as JSON bytes, plus the decoded bytes of base64 DLQ payloads."""
    out = [orjson.dumps(r.value) for r in records]
    out += [base64.b64decode(r.value["payload"]) for r in records
            if r.topic == DLQ and r.value.get("payload_encoding") == "base64"]  # fmt: skip
    return out


def test_every_hostile_message_is_decided_or_dead_lettered_and_the_worker_survives(
    hostile: tuple[str, object, Path],
) -> None:
    bootstrap, worker, log_path = hostile
    fuzz = fuzz_corpus(FUZZ, seed=SEED, max_message_bytes=LIMIT, products=(PRODUCT["product_id"],),
                       campaigns=(CAMPAIGN["campaign_id"],))  # fmt: skip
    cases = interleave(fuzz, valid_messages(VALID, seed=SEED + 1, products=(PRODUCT["product_id"],)))
    began = time.monotonic()
    coords = asyncio.run(send_all(bootstrap, [(c.topic, c.key, c.value) for c in cases]))
    outcomes = Outcomes(cases, coords)
    records = asyncio.run(read_topics(bootstrap, [*DECISION_TOPICS, DLQ], outcomes.update, SETTLE_TIMEOUT_S))
    outcomes.update(records)
    settled_s = time.monotonic() - began

    missing_dlq = Counter(c.case for coord, c in outcomes.dlq_owed.items() if coord not in outcomes.dlq_seen)
    assert not missing_dlq, f"not dead-lettered: {missing_dlq}"
    wrong_reason = Counter((c.case, c.reason, outcomes.dlq_seen[k]) for k, c in outcomes.dlq_owed.items()
                           if outcomes.dlq_seen[k] != c.reason)  # fmt: skip
    assert not wrong_reason, wrong_reason
    assert not outcomes.valid_coords & outcomes.dlq_seen.keys(), "a valid message was dead-lettered"
    undecided = {k: n for k, n in outcomes.decisions_owed.items() if outcomes.decided[k] < n}
    assert not undecided, f"{len(undecided)} owed decisions missing, e.g. {list(undecided.items())[:5]}"

    assert worker.alive, worker.log_tail()
    asyncio.run(probe(bootstrap, worker, FRAUD))  # still deciding after the corpus
    assert not crash_lines(log_path), crash_lines(log_path)[:5]

    personal = {p for c in cases for p in c.pii}
    assert personal and all(any(n in p for n in PII_NEEDLES) for p in personal)
    blob = b"\n".join([*raw_texts(records), log_path.read_bytes()]).decode("utf-8", "replace")
    leaks = {needle: blob.count(needle) for needle in PII_NEEDLES if needle in blob}
    assert not leaks, f"raw personal data in decisions, dead letters or the log: {leaks}"

    dlq_share = len(outcomes.dlq_owed) / len(cases)
    print(f"\nhostile input: {len(cases)} messages ({len(fuzz)} fuzz), {len(outcomes.dlq_owed)} dead-lettered "
          f"({dlq_share:.1%}), {outcomes.decisions_owed.total()} decisions owed and made, "
          f"settled in {settled_s:.1f} s; cases {Counter(c.case for c in fuzz).most_common()}")  # fmt: skip
