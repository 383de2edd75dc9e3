"""The embedded runtime against the real tansu and tritonserver binaries."""

from __future__ import annotations

import asyncio
import socket
import textwrap
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import numpy as np
import pytest
import tritonclient.grpc.aio as grpcclient
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

import streams.embedded.broker as broker_module
from streams.admin import ensure_topics
from streams.embedded.broker import BROKER_PORT_SETTING, EmbeddedBroker
from streams.embedded.process import LOCALHOST, PortInUseError, free_ports, process_group_members
from streams.embedded.triton import EmbeddedTriton, ModelLoadError
from streams.topics import TopicSpec, topic_specs

pytestmark = pytest.mark.integration

MODEL = "rowsum"
STUB_NAME = "triton_python_backend_stub"
SHM_DIR = Path("/dev/shm")
INFER_TIMEOUT_S = 10
CONSUME_TIMEOUT_S = 10

TritonFactory = Callable[[Path, list[str]], EmbeddedTriton]

CONFIG_PBTXT = f"""\
name: "{MODEL}"
backend: "python"
max_batch_size: 64
input [ {{ name: "FEATURES", data_type: TYPE_FP32, dims: [ 3 ] }} ]
output [ {{ name: "PROBA", data_type: TYPE_FP32, dims: [ 1 ] }} ]
dynamic_batching {{ max_queue_delay_microseconds: 100 }}
instance_group [ {{ count: 1, kind: KIND_CPU }} ]
"""

SIGMOID_OF_ROW_SUM = textwrap.dedent(
    """\
    import numpy as np
    import triton_python_backend_utils as pb_utils


    class TritonPythonModel:
        def execute(self, requests):
            responses = []
            for request in requests:
                x = pb_utils.get_input_tensor_by_name(request, "FEATURES").as_numpy()
                proba = 1.0 / (1.0 + np.exp(-x.sum(axis=1, keepdims=True)))
                responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("PROBA", proba.astype(np.float32))]))
            return responses
    """
)

BROKEN_AT_IMPORT = 'raise RuntimeError("broken on purpose")\n'

ROWS = np.array([[0, 0, 0], [1, 2, 3], [-1, -1, -1]], dtype=np.float32)
EXPECTED = 1 / (1 + np.exp(-ROWS.sum(axis=1, keepdims=True)))


def write_model_version(repository: Path, version: int, source: str) -> None:
    """Write ``repository/rowsum/config.pbtxt`` and ``<version>/model.py``."""
    version_dir = repository / MODEL / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    (repository / MODEL / "config.pbtxt").write_text(CONFIG_PBTXT)
    (version_dir / "model.py").write_text(source)


async def infer_rowsum(server: EmbeddedTriton) -> tuple[np.ndarray, str]:
    """PROBA for :data:`ROWS` and the version that answered, over gRPC aio."""
    async with grpcclient.InferenceServerClient(server.grpc_url) as client:
        features = grpcclient.InferInput("FEATURES", list(ROWS.shape), "FP32")
        features.set_data_from_numpy(ROWS)
        result = await client.infer(
            MODEL, [features], outputs=[grpcclient.InferRequestedOutput("PROBA")], client_timeout=INFER_TIMEOUT_S
        )
    return result.as_numpy("PROBA"), result.get_response().model_version


def stub_children(pid: int) -> dict[int, list[str]]:
    """Command lines of the python-backend stubs whose parent is ``pid``, read from /proc."""
    stubs = {}
    for entry in Path("/proc").iterdir():
        try:
            ppid = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = entry.joinpath("cmdline").read_bytes().decode().split("\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and Path(argv[0]).name == STUB_NAME:
            stubs[int(entry.name)] = argv
    return stubs


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in "ZX"


async def test_ensure_topics_creates_every_contract_topic(broker: str) -> None:
    specs = topic_specs(4)
    expected = {spec.name: spec.partitions for spec in specs}
    assert await ensure_topics(broker, specs) == expected
    assert await ensure_topics(broker, specs) == expected

    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        compacted = [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs if s.compacted]
        (response,) = await admin.describe_configs(compacted)
    finally:
        await admin.close()
    policies = {res[3]: dict((entry[0], entry[1]) for entry in res[4]) for res in response.resources}
    assert {name: cfg.get("cleanup.policy") for name, cfg in policies.items()} == {
        s.name: "compact" for s in specs if s.compacted
    }


async def test_produce_consume_roundtrip(broker: str) -> None:
    topic = f"t-{uuid4().hex[:8]}"
    await ensure_topics(broker, [TopicSpec(topic, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=broker)
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=b"user-1", value=b'{"kind":"click"}')
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        record = await asyncio.wait_for(consumer.getone(), CONSUME_TIMEOUT_S)
    finally:
        await consumer.stop()
    assert (record.key, record.value, record.offset) == (b"user-1", b'{"kind":"click"}', 0)


def test_second_broker_on_the_same_port_is_refused(broker: str, tmp_path: Path) -> None:
    port = int(broker.rsplit(":", 1)[1])
    second = EmbeddedBroker()
    with pytest.raises(PortInUseError, match=BROKER_PORT_SETTING) as err:
        second.start(port, tmp_path / "second.log")
    assert err.value.port == port
    assert not second.running


def test_broker_losing_the_port_race_reports_port_in_use(
    broker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker_module, "ensure_port_free", lambda *args: None)
    late = EmbeddedBroker()
    with pytest.raises(PortInUseError, match=BROKER_PORT_SETTING):
        late.start(int(broker.rsplit(":", 1)[1]), tmp_path / "late.log")
    assert not late.running


def test_triton_port_in_use_names_the_setting(tmp_path: Path) -> None:
    http_port, metrics_port = free_ports(2)
    with socket.socket() as taken:
        taken.bind((LOCALHOST, 0))
        taken.listen()
        grpc_port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match="triton grpc port .* set STREAMDECIDE_TRITON_GRPC_PORT"):
            EmbeddedTriton().start(
                tmp_path, [MODEL], http_port, grpc_port, metrics_port, tmp_path / "triton.log", tmp_path
            )


async def test_triton_serves_a_python_model(triton_factory: TritonFactory, tmp_path: Path) -> None:
    write_model_version(tmp_path, 1, SIGMOID_OF_ROW_SUM)
    server = triton_factory(tmp_path, [MODEL])
    proba, version = await infer_rowsum(server)
    np.testing.assert_allclose(proba, EXPECTED, rtol=1e-6)
    assert version == "1"
    assert server.model_versions_ready(MODEL) == [1]


async def test_broken_version_fails_to_load_and_version_1_keeps_serving(
    triton_factory: TritonFactory, tmp_path: Path
) -> None:
    write_model_version(tmp_path, 1, SIGMOID_OF_ROW_SUM)
    server = triton_factory(tmp_path, [MODEL])
    write_model_version(tmp_path, 2, BROKEN_AT_IMPORT)
    with pytest.raises(ModelLoadError, match="broken on purpose") as err:
        server.load_model(MODEL)
    assert err.value.model == MODEL
    proba, version = await infer_rowsum(server)
    np.testing.assert_allclose(proba, EXPECTED, rtol=1e-6)
    assert version == "1"
    assert server.model_versions_ready(MODEL) == [1]


def test_unload_then_load_again(triton_factory: TritonFactory, tmp_path: Path) -> None:
    write_model_version(tmp_path, 1, SIGMOID_OF_ROW_SUM)
    server = triton_factory(tmp_path, [MODEL])
    server.unload_model(MODEL)
    assert server.model_versions_ready(MODEL) == []
    server.load_model(MODEL)
    assert server.model_versions_ready(MODEL) == [1]


def test_stop_leaves_no_python_stub_behind(triton_factory: TritonFactory, tmp_path: Path) -> None:
    write_model_version(tmp_path, 1, SIGMOID_OF_ROW_SUM)
    server = triton_factory(tmp_path, [MODEL])
    assert server.pid is not None
    stubs = stub_children(server.pid)
    assert len(stubs) == 1
    shm_regions = [SHM_DIR / argv[2] for argv in stubs.values()]
    assert all(region.exists() for region in shm_regions)
    server.stop()
    assert not server.running
    assert not [pid for pid in stubs if pid_alive(pid)]
    assert process_group_members(server.pid) == []
    assert not [region for region in shm_regions if region.exists()]
