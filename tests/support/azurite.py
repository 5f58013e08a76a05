"""A throwaway Azurite (the Azure Storage emulator, from npm) on 127.0.0.1: blobs, and queues.

``npm ci`` installs it into ``node_modules/`` (``make test`` does). It keeps everything in memory,
listens on free loopback ports only, never phones home (``--disableTelemetry``) and accepts the
newer API versions the Azure SDKs speak (``--skipApiVersionCheck``). The queue service is a second
process (``azurite-queue``), started only when asked for (``start(queues=True)``): Event Grid
delivers storage events to a Storage queue, and the event-fed tests play Event Grid on it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AZURITE_BLOB = REPO / "node_modules" / ".bin" / "azurite-blob"
AZURITE_QUEUE = REPO / "node_modules" / ".bin" / "azurite-queue"

# The emulator's well-known development account (published in Azure's documentation).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

# Flags both services share: in memory, no telemetry, any API version, no access log.
_COMMON_FLAGS = [
    "--inMemoryPersistence",
    "--skipApiVersionCheck",
    "--disableTelemetry",
    "--loose",
    "--silent",
]


@dataclass
class AzuriteServer:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path

    account_name: str = ACCOUNT_NAME
    account_key: str = ACCOUNT_KEY
    queue_process: subprocess.Popen[bytes] | None = None
    queue_port: int | None = None

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account_name}"

    @property
    def queue_url(self) -> str:
        if self.queue_port is None:
            raise RuntimeError("this Azurite runs no queue service: start(queues=True)")
        return f"http://127.0.0.1:{self.queue_port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        queues = f"QueueEndpoint={self.queue_url};" if self.queue_port is not None else ""
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={self.account_name};AccountKey={self.account_key};"
            f"BlobEndpoint={self.account_url};{queues}"
        )

    def log(self) -> str:
        text = _tail(self.workdir / "azurite.log")
        if self.queue_process is not None:
            text += "\n--- queue service ---\n" + _tail(self.workdir / "azurite-queue.log")
        return text

    def stop(self) -> None:
        for process in (self.process, self.queue_process):
            if process is not None:
                _end(process)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-4000:]
    except FileNotFoundError:
        return ""


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def missing(*, queues: bool = False) -> str | None:
    """None if Azurite is installed, else what to do about it."""
    for binary in (AZURITE_BLOB, AZURITE_QUEUE) if queues else (AZURITE_BLOB,):
        if not binary.exists():
            return f"Azurite not found at {binary}: run `npm ci` (make test does)"
    if shutil.which("node") is None:
        return "Azurite needs Node.js (`node` is not on PATH)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(argv: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    cwd.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def start(timeout: float = 30.0, *, queues: bool = False) -> AzuriteServer:
    """Azurite's blob service (and with ``queues=True`` its queue service), listening, or raise."""
    workdir = Path(tempfile.mkdtemp(prefix="triggerd-azurite-"))
    port = _free_port()
    blob_argv = [str(AZURITE_BLOB), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    server = AzuriteServer(
        _spawn(blob_argv + _COMMON_FLAGS, workdir, workdir / "azurite.log"), port, workdir
    )
    if queues:
        queue_port = _free_port()
        queue_argv = [
            str(AZURITE_QUEUE),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(queue_port),
        ]
        # Its own working directory: the two services never share a workspace file.
        server.queue_process = _spawn(
            queue_argv + _COMMON_FLAGS, workdir / "queue", workdir / "azurite-queue.log"
        )
        server.queue_port = queue_port
    try:
        _wait_listening(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_listening(server: AzuriteServer, timeout: float) -> None:
    waiting = [(server.process, server.port)]
    if server.queue_process is not None and server.queue_port is not None:
        waiting.append((server.queue_process, server.queue_port))
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for process, port in list(waiting):
            if process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {process.returncode}:\n{server.log()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    waiting.remove((process, port))
        if waiting:
            time.sleep(0.1)
    if waiting:
        ports = ", ".join(f"127.0.0.1:{port}" for _, port in waiting)
        raise RuntimeError(
            f"Azurite did not listen on {ports} within {timeout:.0f} s:\n{server.log()}"
        )
