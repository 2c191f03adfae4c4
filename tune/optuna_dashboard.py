"""optuna-dashboard for a running study (`tune.run --optuna-dashboard`): Optuna users' own view
of the study's journal, live, bound to 127.0.0.1 (an SSH tunnel reaches it from elsewhere).

optuna-dashboard is an optional extra (`pip install -e '.[dashboard]'`). It runs as its own
process, reading the journal the driver writes; its request log goes to a file in the study
folder, not to the user's terminal. After the study: `optuna-dashboard runs/NAME/optuna.journal`.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from core.errors import ConfigError

LOG_FILE = "optuna-dashboard.log"
START_TIMEOUT_S = 60.0
HOST = "127.0.0.1"


class Dashboard:
    """A running optuna-dashboard process and its address; stopped when the study ends."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process = process
        self.url = url

    def stop(self) -> None:
        """End the dashboard process (the journal stays for a later one)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def require_dashboard() -> None:
    """Say before any work when the extra is not installed."""
    if importlib.util.find_spec("optuna_dashboard") is None:
        raise ConfigError(
            "--optuna-dashboard needs optuna-dashboard: pip install -e '.[dashboard]'"
        )


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_dashboard(journal: Path, port: int | None = None) -> Dashboard:
    """optuna-dashboard on `journal`, answering on 127.0.0.1 before this returns."""
    require_dashboard()
    port = port or free_port()
    log = open(journal.parent / LOG_FILE, "ab")  # noqa: SIM115  (the process holds it)
    command = [
        sys.executable, "-c", "from optuna_dashboard._cli import main; main()",
        str(journal), "--host", HOST, "--port", str(port), "--quiet",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://{HOST}:{port}/dashboard/"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(
                f"optuna-dashboard exited at start (code {process.returncode}); see "
                f"{journal.parent / LOG_FILE}"
            )
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/api/studies", timeout=2):
                return Dashboard(process, url)
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    Dashboard(process, url).stop()
    raise ConfigError(f"optuna-dashboard did not answer within {START_TIMEOUT_S:.0f} s")
