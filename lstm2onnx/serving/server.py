"""``lstm2onnx serve``: Triton's server binary from the ``nvidia-pytriton`` wheel, for local use and CI.

The wheel ships ``pytriton/tritonserver`` (``bin/tritonserver``, the python
backend, one python-backend stub per Python version) and its shared libraries
in ``nvidia_pytriton.libs``. To run a python-backend model repository:

- a copy of the wheel's backends folder gets the stub for the running Python
  at ``backends/python/triton_python_backend_stub`` (where the backend looks);
- ``LD_LIBRARY_PATH`` includes ``nvidia_pytriton.libs`` (the stub's own search
  path points there only from inside the wheel);
- the stub embeds the system's ``libpython3.X``, not this environment's
  interpreter, so this environment's ``bin`` goes first on ``PATH`` and its
  import paths (site-packages and editable installs such as the runtime's) on
  ``PYTHONPATH``; without them the model's ``import lstm2onnx_runtime`` fails.

Only the wheel's files are used (its Python package is never imported: its
metadata pins numpy < 2, which this project does not install, so it is
installed with ``pip install --no-deps``; see the README).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import Lstm2OnnxError

INSTALL_HINT = ("pip install --no-deps -c constraints.txt nvidia-pytriton (the wheel carries Triton's server; "
                "see the README's 'Serving on Triton')")


class ServeError(Lstm2OnnxError):
    """Triton's server cannot be found, started or stopped."""


@dataclass(frozen=True)
class TritonInstall:
    """Where the ``nvidia-pytriton`` wheel's server pieces are."""

    root: Path  # .../site-packages/pytriton/tritonserver
    libs: Path  # .../site-packages/nvidia_pytriton.libs

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "tritonserver"

    def stub(self, version: tuple[int, int] = sys.version_info[:2]) -> Path:
        return self.root / "python_backend_stubs" / f"{version[0]}.{version[1]}" / "triton_python_backend_stub"


def find_triton() -> TritonInstall:
    """The installed wheel's server, or a :class:`ServeError` saying how to install it."""
    spec = importlib.util.find_spec("pytriton")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ServeError(f"Triton's server is not installed: {INSTALL_HINT}")
    package = Path(next(iter(spec.submodule_search_locations)))
    install = TritonInstall(package / "tritonserver", package.parent / "nvidia_pytriton.libs")
    if not install.binary.is_file() or not install.libs.is_dir():
        raise ServeError(f"the nvidia-pytriton package at {str(package)!r} has no tritonserver binary or libraries: {INSTALL_HINT}")
    if not install.stub().is_file():
        raise ServeError(f"the nvidia-pytriton wheel has no python backend stub for Python {sys.version_info[0]}.{sys.version_info[1]}")
    return install


def prepare_backends(install: TritonInstall, folder: Path) -> Path:
    """``folder/backends``: the wheel's backends with this Python's stub placed in ``python/``."""
    backends = folder / "backends"
    shutil.copytree(install.root / "backends", backends, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(install.stub(), backends / "python" / "triton_python_backend_stub")
    return backends


def python_paths() -> list[str]:
    """This environment's import paths the stub's interpreter needs: everything on sys.path but the standard library.

    Editable installs (a ``.pth`` file or a finder in site-packages) are added
    as the folders their packages are in, since ``PYTHONPATH`` folders do not
    run ``.pth`` files.
    """
    paths = sysconfig.get_paths()
    stdlib = {os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib")}

    def standard(entry: str) -> bool:
        real = os.path.realpath(entry)
        return "site-packages" not in real and any(real == s or real.startswith(s + os.sep) for s in stdlib)

    found = [os.path.abspath(entry) for entry in sys.path if entry and os.path.isdir(entry) and not standard(entry)]
    for package in ("lstm2onnx_runtime", "lstm2onnx"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            found.append(os.path.dirname(os.path.dirname(spec.origin)))
    return list(dict.fromkeys(found))


def server_environment(install: TritonInstall) -> dict[str, str]:
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join([str(install.libs)] + [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p])
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(python_paths())
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def port_in_use(port: int) -> bool:
    """Whether something listens on ``port`` (of any address) now: Triton binds 0.0.0.0, so that is tried.
    SO_REUSEADDR, as servers set it, so that a port a closed connection left in TIME_WAIT counts as free."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def model_backends(repository: Path) -> dict[str, str]:
    """``{model: backend}`` for each model folder of a repository with a config.pbtxt: its ``backend``, else the
    backend of its ``platform`` (``onnxruntime_onnx`` is the onnxruntime backend's); models naming neither (or an ensemble) are left out."""
    found = {}
    for config in sorted(repository.glob("*/config.pbtxt")):
        text = config.read_text(encoding="utf-8", errors="replace")
        backend = re.search(r'^\s*backend\s*:\s*(["\'])(.*?)\1', text, re.MULTILINE)  # text format quotes either way
        platform = re.search(r'^\s*platform\s*:\s*(["\'])(.*?)\1', text, re.MULTILINE)
        if backend:
            found[config.parent.name] = backend.group(2)
        elif platform and platform.group(2) != "ensemble":  # an ensemble is Triton's own scheduler, not a backend
            found[config.parent.name] = {"onnxruntime_onnx": "onnxruntime"}.get(platform.group(2), platform.group(2))
    return found


def free_ports(count: int) -> list[int]:
    """``count`` different TCP ports nobody listens on now (held open together while the OS picks them)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class TritonServer:
    """``tritonserver`` on a model repository: ``with TritonServer(repo) as server: ... server.grpc_url``.

    Ports default to free ones (``http_port=8000`` etc. for Triton's usual
    ones). The server's output goes to ``log_file`` (default: ``tritonserver.log``
    in a temporary work folder). :meth:`start` returns when the server reports
    ready, or raises a :class:`ServeError` with the log's last lines.
    """

    def __init__(self, repository: str | os.PathLike, *, http_port: int | None = None, grpc_port: int | None = None,
                 metrics_port: int | None = None, log_file: str | os.PathLike | None = None, log_verbose: int = 0,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.repository = Path(repository).resolve()
        if not self.repository.is_dir():
            raise ServeError(f"model repository {str(repository)!r} is not a folder")
        self.install = find_triton()
        available = {folder.name for folder in (self.install.root / "backends").iterdir() if folder.is_dir()}
        missing = {model: backend for model, backend in model_backends(self.repository).items() if backend and backend not in available}
        if missing:
            models = ", ".join(f"{model!r} ({backend})" for model, backend in missing.items())
            raise ServeError(f"the local server (the nvidia-pytriton wheel's tritonserver) has only the {', '.join(sorted(available))} "
                             f"backend, not the one of {models}: serve this repository in Triton's container (see the README's "
                             "'Serving on Triton'), or write the model with 'lstm2onnx triton --backend python'")
        picked = iter(free_ports(3))
        for kind, port in (("http_port", http_port), ("grpc_port", grpc_port), ("metrics_port", metrics_port)):
            if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
                raise ServeError(f"{kind} must be a TCP port from 1 to 65535, got {port!r}")
            setattr(self, kind, port or next(picked))
        ports = {"HTTP": self.http_port, "gRPC": self.grpc_port, "metrics": self.metrics_port}
        if len(set(ports.values())) < 3:
            raise ServeError(f"the HTTP, gRPC and metrics ports must differ, got {ports['HTTP']}, {ports['gRPC']} and {ports['metrics']}")
        self._ports = ports
        self._work = Path(tempfile.mkdtemp(prefix="lstm2onnx-triton-"))
        self.log_file = Path(log_file) if log_file is not None else self._work / "tritonserver.log"
        self.log_verbose, self.extra_args = log_verbose, tuple(extra_args)
        self.process: subprocess.Popen | None = None

    @property
    def http_url(self) -> str:
        return f"localhost:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"localhost:{self.grpc_port}"

    def command(self) -> list[str]:
        backends = prepare_backends(self.install, self._work)
        return [
            str(self.install.binary), "--model-repository", str(self.repository), "--backend-directory", str(backends),
            "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port), "--metrics-port", str(self.metrics_port),
            "--log-verbose", str(self.log_verbose), "--exit-on-error", "true", *self.extra_args,
        ]

    def start(self, timeout: float = 120.0) -> "TritonServer":
        """Start the server; return once it is ready (checked on its HTTP port, and that the process is the one
        answering: a port already taken is refused first, since another server there would answer for it)."""
        taken = [f"{port} ({kind})" for kind, port in self._ports.items() if port_in_use(port)]
        if taken:
            self._cleanup()
            raise ServeError(f"port {', '.join(taken)} is in use: another server listens there; choose free ports "
                             "(lstm2onnx serve --http-port/--grpc-port/--metrics-port)")
        command = self.command()
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=server_environment(self.install), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._cleanup(keep_log=True)
                raise ServeError(f"tritonserver exited with status {self.process.returncode} while starting; "
                                 f"the end of {self.log_file}:\n{self.log_tail()}")
            if self.ready() and self.process.poll() is None:
                return self
            time.sleep(0.2)
        self.stop(keep_log=True)
        raise ServeError(f"tritonserver was not ready after {timeout:.0f} s; the end of {self.log_file}:\n{self.log_tail()}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/v2/health/ready", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait(self) -> int:
        """Block until the server exits; its status."""
        assert self.process is not None
        return self.process.wait()

    def stop(self, timeout: float = 30.0, keep_log: bool = False) -> None:
        """SIGINT (Triton finishes in-flight requests and unloads the models), SIGKILL after ``timeout``. The
        temporary work folder goes, with the default log in it unless ``keep_log`` (a failed start's)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own session: the python-backend stubs go with it
                process.wait()
        self._cleanup(keep_log)

    def _cleanup(self, keep_log: bool = False) -> None:
        shutil.rmtree(self._work / "backends", ignore_errors=True)
        if not keep_log or self.log_file.parent != self._work:
            shutil.rmtree(self._work, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
