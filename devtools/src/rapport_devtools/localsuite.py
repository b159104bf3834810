"""The suite as local processes: what `make run` starts and what the end-to-end tests drive.

Each service runs as its own process (`python -m rapport_<service>`), configured only through
its environment, exactly as in a container.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rapport_shared.runtime.settings import SERVICES

# Files and directories the suite's processes create are readable by their owner only.
OWNER_ONLY_UMASK = 0o077


@dataclass
class ServiceProcess:
    service: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServiceProcess":
        env = {**os.environ, **self.env, f"RAPPORT_{self.service.upper()}_PORT": str(self.port)}
        self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Logs name clients and carry request details: the owner's alone, as everything the
        # service creates is (umask 077: its database, WAL, keys).
        descriptor = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"rapport_{self.service}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal reaches the runner only
                umask=OWNER_ONLY_UMASK,
            )
        return self

    def wait_ready(self, timeout: float = 30.0, path: str = "/readyz") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.service} exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                response = httpx.get(f"{self.url}{path}", timeout=1.0)
                # /readyz answers ready before the broker is reached; the suite wants both.
                if response.status_code == 200 and (
                    response.json().get("broker", "connected") == "connected"
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.service} not ready within {timeout}s; see {self.log_path}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush — a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def service_processes(
    env: dict[str, str], log_dir: Path, ports: dict[str, int] | None = None
) -> dict[str, ServiceProcess]:
    ports = ports or SERVICES
    return {
        name: ServiceProcess(name, ports[name], env, log_dir / f"{name}.log") for name in SERVICES
    }
