"""Unattended running, hooked into the kiosk `App`: systemd, signals, disk guard, opening hours.

`Operations(app, environ)` adds to the app:
- a `ServiceMonitor` in `app.on_frame`: READY=1 after the first frame, WATCHDOG=1
  from the display loop, STATUS= and the status line once a minute;
- the `DiskGuard` and a GPU memory probe in `app.services`, and `app.disk_guard`;
- `app.opening` and `app.closed_screen` for the opening hours;
- SIGTERM and SIGINT handlers that end the loop, after which `finish()` sends
  STOPPING=1 and stops the worker within `service.stop_timeout_s`, and the app
  stops its services.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from typing import Mapping

from installation.disk import DiskGuard
from installation.schedule import ClosedScreen, OpeningWatch, Schedule
from installation.service import Notifier, ServiceMonitor, install_stop_handlers, wait_for_display

log = logging.getLogger(__name__)


class Operations:
    """The operations parts of one kiosk run; build it before `app.start()`."""

    def __init__(self, app, environ: Mapping[str, str]):
        settings = app.settings
        self.app = app
        self.environ = environ
        self.notifier = Notifier.from_environment(environ)
        self.guard = DiskGuard(settings.disk, app.archive_dir, app.board, app.texts)
        self.gpu = GpuMemoryProbe(settings.service.status_interval_s)
        self.monitor = ServiceMonitor(settings.service, self.notifier, app.board, extra_stats=self.extra_stats)

        app.services.extend([self.guard, self.gpu])
        app.on_frame.append(self.monitor.on_frame)
        app.disk_guard = self.guard
        schedule = Schedule(settings.schedule, settings.source.parent)
        app.opening = OpeningWatch(schedule) if schedule.enabled else None
        app.closed_screen = ClosedScreen(schedule.closed_image)
        install_stop_handlers(self.request_stop)
        if self.notifier.enabled:
            log.info("systemd notify socket %s, watchdog every %.1f s", self.notifier.address,
                     self.notifier.watchdog_interval)

    def wait_for_display(self) -> None:
        """Wait for the screen named by `service.display`; raises TwowayError when it never comes."""
        wait_for_display(self.app.settings.service, self.environ, self.notifier)

    def request_stop(self) -> None:
        # Runs in the signal handler: only set the flag the display loop reads.
        self.app.running = False

    def finish(self) -> None:
        """Tell systemd the program is stopping and stop the worker; call before `app.stop()`."""
        self.monitor.stopping()
        worker = self.app.worker
        if worker is not None:
            # The worker is the slowest part to stop (it may be importing torch or mid-job), so
            # it gets the stop budget less one second for the rest of the app.
            budget = max(0.5, self.app.settings.service.stop_timeout_s - 1.0)
            timeout = min(budget, self.app.settings.worker.stop_timeout_s)
            if worker.state in ("starting", "restarting"):
                # A worker still importing torch runs no job and cannot read "stop" yet.
                timeout = min(timeout, 1.0)
            worker.stop(timeout=timeout)

    def extra_stats(self) -> dict:
        return {
            "jobs_done": self.app.jobs_done,
            "disk_free_mb": self.guard.free_mb if self.guard.free_mb is not None else "-",
            "gpu_mb": self.gpu.used_mb if self.gpu.used_mb is not None else "-",
        }


class GpuMemoryProbe:
    """Read the GPU's used memory with nvidia-smi in a thread, every `interval` seconds.

    The display process never imports torch, so it runs the driver's tool instead, and
    `used_mb` stays None where nvidia-smi is missing (machines without an NVIDIA GPU).
    """

    def __init__(self, interval: float):
        self.interval = interval
        self.used_mb: int | None = None
        self.command = shutil.which("nvidia-smi")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.command is None:
            log.info("nvidia-smi not found; the status line shows no GPU memory")
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gpu-memory", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self) -> None:
        while True:
            self.read()
            if self._stop.wait(self.interval):
                return

    def read(self) -> int | None:
        try:
            done = subprocess.run([self.command, "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=10.0)
            self.used_mb = sum(int(line) for line in done.stdout.split())
        except (OSError, subprocess.TimeoutExpired, ValueError) as error:
            log.warning("reading GPU memory with nvidia-smi failed: %s", error)
            self.used_mb = None
        return self.used_mb


def run_kiosk_app(app, environ: Mapping[str, str]) -> int:
    """Run `app` as a service: wait for the screen, loop until stopped, stop cleanly."""
    operations = Operations(app, environ)
    operations.wait_for_display()
    started = time.monotonic()
    try:
        app.start()
        log.info("kiosk running, started in %.1f s", time.monotonic() - started)
        return app.run()
    finally:
        operations.finish()
        stopping = time.monotonic()
        app.stop()
        log.info("kiosk stopped in %.1f s", time.monotonic() - stopping)
