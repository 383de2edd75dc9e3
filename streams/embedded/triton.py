"""The embedded Triton Inference Server: ``tritonserver`` from the ``nvidia-pytriton`` wheel.

The wheel's python backend directory lacks the stub, so :func:`assemble_backend_dir`
links backend and stub into a directory of our own; the server runs with the venv's
``bin`` first on ``PATH`` so that the stub's embedded Python finds the venv packages.
Models are controlled explicitly over the HTTP API (``/v2/repository``).
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import logging
import os
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

from streams.embedded.process import (
    LOCALHOST,
    BinaryNotFoundError,
    ChildProcess,
    EmbeddedError,
    PortInUseError,
    ProcessStartError,
    WaitTimeoutError,
    ensure_port_free,
)

LOG = logging.getLogger("streamdecide.embedded")

TRITON_PACKAGE = "nvidia-pytriton"
TRITON_MODULE = "pytriton"
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
BACKEND_FILES: tuple[str, ...] = (
    "backends/python/libtriton_python.so",
    "backends/python/triton_python_backend_utils.py",
    f"python_backend_stubs/{PYTHON_VERSION}/triton_python_backend_stub",
)
PORT_SETTINGS: dict[str, str] = {
    "http": "STREAMDECIDE_TRITON_HTTP_PORT",
    "grpc": "STREAMDECIDE_TRITON_GRPC_PORT",
    "metrics": "STREAMDECIDE_TRITON_METRICS_PORT",
}
EXIT_TIMEOUT_S = 10
DEFAULT_START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = EXIT_TIMEOUT_S + 5.0
READY_POLL_S = 0.1
PROBE_TIMEOUT_S = 2.0
MODEL_CONTROL_TIMEOUT_S = 120.0
HTTP_OK = 200
READY_STATE = "READY"
LOADED_STATES = frozenset({READY_STATE, "LOADING", "UNLOADING"})
FAILED_SERVICE_MARKER = "failed to start"


class ModelLoadError(EmbeddedError):
    """Triton refused a model-control request (load, unload, index); ``detail`` is its error text."""

    def __init__(self, model: str, status: int, detail: str, action: str = "load") -> None:
        super().__init__(f"{action} of model {model!r} failed (HTTP {status}): {detail}")
        self.model = model
        self.status = status
        self.detail = detail
        self.action = action


def _triton_root() -> Path:
    spec = importlib.util.find_spec(TRITON_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise BinaryNotFoundError("tritonserver", Path(TRITON_MODULE, "tritonserver"), TRITON_PACKAGE)
    return Path(next(iter(spec.submodule_search_locations)), "tritonserver")


def tritonserver_binary() -> Path:
    """Path of ``tritonserver`` inside the installed ``pytriton`` package (not imported).

    Raises
    ------
    BinaryNotFoundError
        If ``nvidia-pytriton`` or its server binary is missing.
    """
    path = _triton_root() / "bin" / "tritonserver"
    if not path.is_file():
        raise BinaryNotFoundError("tritonserver", path, TRITON_PACKAGE)
    return path


def assemble_backend_dir(dest: Path) -> Path:
    """Link the python backend and this Python's stub into ``dest/python/``; idempotent.

    Returns
    -------
    Path
        ``dest``, to pass as ``--backend-directory``.
    """
    root = _triton_root()
    python_dir = dest / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for relative in BACKEND_FILES:
        target = root / relative
        if not target.is_file():
            raise BinaryNotFoundError(target.name, target, TRITON_PACKAGE)
        link = python_dir / target.name
        if link.is_symlink() and link.readlink() == target:
            continue
        staging = link.with_name(f".{link.name}.{os.getpid()}")
        staging.unlink(missing_ok=True)
        staging.symlink_to(target)
        staging.replace(link)
    return dest


def triton_command(
    repository: Path,
    backend_dir: Path,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    models: list[str],
) -> list[str]:
    """Command line of a tritonserver on 127.0.0.1 with explicit model control.

    Examples
    --------
    >>> cmd = triton_command(Path("repo"), Path("be"), 8000, 8001, 8002, ["ctr", "fraud"])
    >>> [arg for arg in cmd if "model" in arg or "port" in arg]  # doctest: +NORMALIZE_WHITESPACE
    ['--model-repository=repo', '--model-control-mode=explicit', '--load-model=ctr', '--load-model=fraud',
     '--http-port=8000', '--grpc-port=8001', '--metrics-port=8002']
    """
    return [
        str(tritonserver_binary()),
        f"--model-repository={repository}",
        f"--backend-directory={backend_dir}",
        "--model-control-mode=explicit",
        *(f"--load-model={model}" for model in models),
        f"--http-address={LOCALHOST}",
        f"--grpc-address={LOCALHOST}",
        f"--metrics-address={LOCALHOST}",
        f"--http-port={http_port}",
        f"--grpc-port={grpc_port}",
        f"--metrics-port={metrics_port}",
        "--exit-on-error=true",
        "--strict-readiness=true",
        f"--exit-timeout-secs={EXIT_TIMEOUT_S}",
        "--log-info=true",
        "--log-verbose=0",
    ]


def _server_env() -> dict[str, str]:
    """This environment with the venv ``bin`` first on PATH (the stub finds the venv through it).

    The stub links ``libpython3.11.so.1.0`` dynamically and would find Debian's 3.11.2,
    while the venv's standard library may come from a newer shared 3.11 build (here
    pyenv's 3.11.7) whose ``_ssl`` needs a newer libpython: ``import transformers`` (via
    ``ssl``) then fails inside the stub. This interpreter's LIBDIR goes first.
    """
    env = dict(os.environ)
    venv_bin = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join(filter(None, (venv_bin, env.get("PATH"))))
    libdir = sysconfig.get_config_var("LIBDIR")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, (libdir, env.get("LD_LIBRARY_PATH"))))
    return env


class EmbeddedTriton:
    """A tritonserver child process serving a model repository on 127.0.0.1."""

    def __init__(self) -> None:
        self._child: ChildProcess | None = None
        self._ports: dict[str, int] = {}

    @property
    def grpc_url(self) -> str:
        """``"127.0.0.1:PORT"`` for ``tritonclient.grpc``."""
        return self._address("grpc")

    @property
    def http_url(self) -> str:
        """``"127.0.0.1:PORT"`` for ``tritonclient.http`` (no scheme, as that client expects)."""
        return self._address("http")

    def _address(self, role: str) -> str:
        if role not in self._ports:
            raise RuntimeError("the embedded tritonserver has not been started")
        return f"{LOCALHOST}:{self._ports[role]}"

    @property
    def ports(self) -> dict[str, int]:
        """The ``http``, ``grpc`` and ``metrics`` ports (to restart a server where clients expect it)."""
        return dict(self._ports)

    @property
    def pid(self) -> int | None:
        """PID of the server process (its process group id), ``None`` before start."""
        return self._child.pid if self._child is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._child is not None and self._child.alive

    def start(
        self,
        repository: Path,
        models: list[str],
        http_port: int,
        grpc_port: int,
        metrics_port: int,
        log_path: Path,
        work_dir: Path,
        timeout: float = DEFAULT_START_TIMEOUT_S,
    ) -> None:
        """Start tritonserver and return once it and every model in ``models`` are ready.

        Raises
        ------
        PortInUseError
            If one of the three ports is taken (names the port and its setting).
        ProcessStartError
            If the server exits or is not ready within ``timeout`` s (with its log tail).
        """
        if self._child is not None:
            raise RuntimeError("the embedded tritonserver was already started")
        ports = {"http": http_port, "grpc": grpc_port, "metrics": metrics_port}
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"triton ports must differ, got {ports}")
        for role, port in ports.items():
            ensure_port_free(port, f"triton {role}", PORT_SETTINGS[role])
        began = time.monotonic()
        repository, work_dir = repository.resolve(), work_dir.resolve()
        backend_dir = assemble_backend_dir(work_dir / "triton_backends")
        command = triton_command(repository, backend_dir, http_port, grpc_port, metrics_port, models)
        self._ports = ports
        self._child = ChildProcess("tritonserver", command, log_path, env=_server_env(), cwd=work_dir).start()
        try:
            self._wait_ready(self._child, models, began + timeout)
        except BaseException:
            self._child.stop(STOP_TIMEOUT_S)
            raise
        LOG.info("tritonserver ready on %s (grpc) in %.2f s with %s", self.grpc_url, time.monotonic() - began, models)

    def _wait_ready(self, child: ChildProcess, models: list[str], deadline: float) -> None:
        """Poll server and model readiness, then the metrics endpoint.

        Triton starts its gRPC, HTTP and metrics services in that order after the
        models have loaded, and exits if one cannot bind: HTTP can answer "ready" for
        a moment before a metrics port clash stops the server, hence the last checks.
        """
        http, metrics = f"http://{self.http_url}", f"http://{self._address('metrics')}"
        urls = [f"{http}/v2/health/ready", *(f"{http}/v2/models/{model}/ready" for model in models)]
        urls.append(f"{metrics}/metrics")
        while urls:
            if not child.alive:
                self._raise_start_failure(child, f"exited with rc {child.returncode} while starting")
            if time.monotonic() >= deadline:
                self._raise_start_failure(child, f"not ready: {urls[0]} did not answer 200")
            if _http("GET", urls[0])[0] == HTTP_OK:
                urls.pop(0)
            else:
                time.sleep(READY_POLL_S)
        if FAILED_SERVICE_MARKER in child.log_tail() or not child.alive:
            self._raise_start_failure(child, "failed to start one of its services")

    def _raise_start_failure(self, child: ChildProcess, reason: str) -> NoReturn:
        tail = child.log_tail()
        for role, port in self._ports.items():
            if f"'{LOCALHOST}:{port}' already in use" in tail:
                raise PortInUseError(port, f"triton {role}", PORT_SETTINGS[role])
        raise ProcessStartError(child.name, reason, tail, child.returncode)

    def _control(self, name: str, action: str) -> None:
        url = f"http://{self.http_url}/v2/repository/models/{name}/{action}"
        status, body = _http("POST", url, {}, MODEL_CONTROL_TIMEOUT_S)
        if status != HTTP_OK:
            raise ModelLoadError(name, status, _error_text(body), action)

    def load_model(self, name: str) -> None:
        """(Re)load ``name`` from the repository; the serving version stays if the new one fails.

        Raises
        ------
        ModelLoadError
            With Triton's error text if the load is refused.
        """
        began = time.monotonic()
        self._control(name, "load")
        versions = self.model_versions_ready(name)
        LOG.info("tritonserver loaded %s in %.2f s, ready versions %s", name, time.monotonic() - began, versions)

    def unload_model(self, name: str, timeout: float = MODEL_CONTROL_TIMEOUT_S) -> None:
        """Unload every version of ``name`` and wait until none is loaded or unloading.

        Triton answers the unload request at once and unloads in the background.

        Raises
        ------
        ModelLoadError
            With Triton's error text (``action="unload"``) if the unload is refused.
        WaitTimeoutError
            If a version is still loaded after ``timeout`` s.
        """
        began = time.monotonic()
        self._control(name, "unload")
        while LOADED_STATES.intersection(self._model_states(name).values()):
            if time.monotonic() - began >= timeout:
                raise WaitTimeoutError(f"model {name!r} to unload", timeout)
            time.sleep(READY_POLL_S)
        LOG.info("tritonserver unloaded %s in %.2f s", name, time.monotonic() - began)

    def model_versions_ready(self, name: str) -> list[int]:
        """Versions of ``name`` in state READY, from ``POST /v2/repository/index``."""
        return sorted(version for version, state in self._model_states(name).items() if state == READY_STATE)

    def _model_states(self, name: str) -> dict[int, str]:
        status, body = _http("POST", f"http://{self.http_url}/v2/repository/index", {})
        if status != HTTP_OK:
            raise ModelLoadError(name, status, _error_text(body), "index")
        return {
            int(entry["version"]): entry.get("state", "")
            for entry in json.loads(body)
            if entry.get("name") == name and "version" in entry
        }

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the server and its python stubs (SIGTERM, SIGKILL after ``timeout`` s); idempotent."""
        if self._child is not None:
            self._child.stop(timeout)


def _http(method: str, url: str, body: object | None = None, timeout: float = PROBE_TIMEOUT_S) -> tuple[int, bytes]:
    """One HTTP call; returns (status, body), status 0 when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return 0, b""


def _error_text(body: bytes) -> str:
    """The ``error`` field of a Triton JSON error body, else the raw body.

    Examples
    --------
    >>> _error_text(b'{"error":"failed to load \\'m\\'"}')
    "failed to load 'm'"
    >>> _error_text(b"")
    'no response'
    """
    if not body:
        return "no response"
    try:
        return str(json.loads(body).get("error", body.decode(errors="replace")))
    except (ValueError, AttributeError):
        return body.decode(errors="replace")
