"""A real Milvus server for tests: Milvus Lite's gRPC server (PyPI ``milvus-lite``) as a child
process on a free loopback port, started, awaited until it answers, and stopped.

It is always bound to 127.0.0.1 (its own default is every interface). ``kill`` is SIGKILL,
a crash; ``stop`` is SIGTERM; ``start`` again reuses the same data directory and port, so a
test can restart the server under a running client.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT = 90.0  # a cold start imports pyarrow/faiss: seconds, more on a loaded CI box


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MilvusLiteServer:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_path = data_dir.parent / f"milvus-lite-{self.port}.log"
        self._process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> MilvusLiteServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "milvus_lite",
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_ready()
        return self

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until a client's call succeeds (the port opens before the service answers)."""
        from pymilvus import MilvusClient

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(
                    f"milvus-lite exited ({self._process.returncode}):\n{self._log_tail()}"
                )
            if self._port_open():
                try:
                    client = MilvusClient(uri=self.uri, timeout=5)
                    try:
                        client.list_collections()
                        return
                    finally:
                        client.close()
                except Exception as exc:  # not answering yet
                    last = exc
            time.sleep(0.1)
        raise RuntimeError(
            f"milvus-lite did not answer within {timeout} s ({last}):\n{self._log_tail()}"
        )

    def _port_open(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.2)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def _signal(self, sig: int) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while self._port_open() and time.monotonic() < deadline:
            time.sleep(0.05)

    def kill(self) -> None:
        """A crash: SIGKILL, nothing flushed on the way out."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)
