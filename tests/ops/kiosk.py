"""A harness that plays systemd's part for a real `twoway run` started as a child process.

It binds the Unix datagram socket named by NOTIFY_SOCKET, starts the kiosk headless
(SDL dummy driver, small window, OSC on 127.0.0.1 only) in its own process group,
and reads the READY=1, WATCHDOG=1, STATUS= and STOPPING=1 messages it sends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
# Seconds to wait for the kiosk to start or stop on a loaded two-core machine.
START_TIMEOUT = 120.0


class Kiosk:
    def __init__(self, folder: Path, archive_dir: Path, overrides: list[str] = (), watchdog_usec: int = 1_000_000):
        self.folder = folder
        self.archive_dir = archive_dir
        self.overrides = list(overrides)
        self.watchdog_usec = watchdog_usec
        self.socket_path = folder / "notify"
        self.log_path = folder / "kiosk.log"
        self.process: subprocess.Popen | None = None
        self.messages: list[str] = []
        self._socket: socket.socket | None = None

    def start(self) -> "Kiosk":
        self.socket_path.unlink(missing_ok=True)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self.socket_path))
        environ = {**os.environ, "NOTIFY_SOCKET": str(self.socket_path), "WATCHDOG_USEC": str(self.watchdog_usec),
                   "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "CUDA_VISIBLE_DEVICES": ""}
        settings = [f"archive.path={self.archive_dir}", "osc.host=127.0.0.1", "osc.port=0",
                    "display.window_width=320", "display.window_height=180", "service.status_interval_s=2",
                    "disk.check_interval_s=0.5", *self.overrides]
        command = [sys.executable, "-m", "installation", *[f"--set={item}" for item in settings], "run", "--windowed"]
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=log_file,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def receive(self, timeout: float) -> str | None:
        """Return the next notify message, or None when none comes within `timeout` seconds."""
        self._socket.settimeout(timeout)
        try:
            message = self._socket.recv(4096).decode()
        except socket.timeout:
            return None
        self.messages.append(message)
        return message

    def wait_for(self, prefix: str, timeout: float = START_TIMEOUT) -> str:
        """Read messages until one starts with `prefix`; fail with the log when none does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(max(0.05, deadline - time.monotonic()))
            if message is not None and message.startswith(prefix):
                return message
            if self.process.poll() is not None:
                break
        raise AssertionError(f"no {prefix!r} from the kiosk (exit status {self.process.poll()}); "
                             f"log:\n{self.log()[-3000:]}")

    def wait_for_text(self, text: str, timeout: float = START_TIMEOUT) -> str:
        """Read messages until a STATUS= line contains `text`; fail with the log when none does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(max(0.05, deadline - time.monotonic()))
            if message is not None and message.startswith("STATUS=") and text in message:
                return message
            if self.process.poll() is not None:
                break
        raise AssertionError(f"no status with {text!r} from the kiosk (exit status {self.process.poll()}); "
                             f"log:\n{self.log()[-3000:]}")

    def silence(self, prefix: str, quiet: float, timeout: float = START_TIMEOUT) -> bool:
        """Return True once `quiet` seconds pass with no message starting with `prefix`."""
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            message = self.receive(0.1)
            now = time.monotonic()
            if message is not None and message.startswith(prefix):
                last = now
            elif now - last >= quiet:
                return True
        return False

    def tree(self) -> list[psutil.Process]:
        """Return the kiosk process and all its descendants."""
        parent = psutil.Process(self.process.pid)
        return [parent, *parent.children(recursive=True)]

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def kill_group(self) -> None:
        """SIGKILL every process of the kiosk's group, as a power cut or `systemctl kill -s KILL` would."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def wait(self, timeout: float = START_TIMEOUT) -> int:
        return self.process.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill_group()
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def alive(processes: list[psutil.Process], grace: float = 3.0) -> list[int]:
    """Return the ids of the processes still running after `grace` seconds (zombies count as gone).

    multiprocessing's resource tracker exits only once it sees its parent's pipe
    close, a moment after the parent; systemd's KillMode=mixed kills such leftovers.
    """
    psutil.wait_procs([p for p in processes if p.is_running()], timeout=grace)
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process.pid)
        except psutil.NoSuchProcess:
            continue
    return running
