"""A throwaway Azurite blob service (the Azure Storage emulator, from npm) on 127.0.0.1.

``npm ci`` installs it into ``node_modules/`` (``make test`` does). It keeps everything in memory,
listens on a free loopback port only, never phones home (``--disableTelemetry``) and accepts the
newer API versions azure-storage-blob speaks (``--skipApiVersionCheck``).
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

# The emulator's well-known development account (published in Azure's documentation).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass
class AzuriteServer:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path

    account_name: str = ACCOUNT_NAME
    account_key: str = ACCOUNT_KEY

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={self.account_name};AccountKey={self.account_key};"
            f"BlobEndpoint={self.account_url};"
        )

    def log(self) -> str:
        return (self.workdir / "azurite.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.workdir, ignore_errors=True)


def missing() -> str | None:
    """None if Azurite is installed, else what to do about it."""
    if not AZURITE_BLOB.exists():
        return f"Azurite not found at {AZURITE_BLOB}: run `npm ci` (make test does)"
    if shutil.which("node") is None:
        return "Azurite needs Node.js (`node` is not on PATH)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(timeout: float = 30.0) -> AzuriteServer:
    workdir = Path(tempfile.mkdtemp(prefix="triggerd-azurite-"))
    port = _free_port()
    argv = [
        str(AZURITE_BLOB),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--loose",
        "--silent",
    ]
    with (workdir / "azurite.log").open("wb") as log:
        process = subprocess.Popen(argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    server = AzuriteServer(process, port, workdir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = server.log()
            server.stop()
            raise RuntimeError(f"Azurite exited with {process.returncode}:\n{output}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.1)
    output = server.log()
    server.stop()
    raise RuntimeError(
        f"Azurite did not listen on 127.0.0.1:{port} within {timeout:.0f} s:\n{output}"
    )
