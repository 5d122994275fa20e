import os
import signal
import socket
import types

import pytest

from installation.config import load_settings
from installation.disk import DiskGuard
from installation.operations import GpuMemoryProbe, Operations, run_kiosk_app
from installation.state import StateBoard
from installation.texts import Texts


class StandInApp:
    """The parts of the kiosk App that Operations uses, recording the order of calls."""

    def __init__(self, settings, archive_dir):
        self.settings = settings
        self.archive_dir = archive_dir
        self.board = StateBoard()
        self.texts = Texts("en")
        self.services = []
        self.on_frame = []
        self.worker = None
        self.jobs_done = 0
        self.running = False
        self.calls = []

    def start(self):
        self.calls.append("start")
        self.running = True

    def run(self):
        self.calls.append("run")
        for hook in self.on_frame:
            hook(0.016)
        return 0

    def stop(self):
        self.calls.append("stop")


@pytest.fixture
def app(tmp_path):
    settings = load_settings(overrides=["schedule.enabled=true"])
    yield StandInApp(settings, tmp_path)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def test_disk_guard_is_a_service(app):
    Operations(app, {})
    assert any(isinstance(service, DiskGuard) for service in app.services)


def test_monitor_hooked_per_frame(app):
    operations = Operations(app, {})
    assert app.on_frame == [operations.monitor.on_frame]


def test_opening_hours_attached(app):
    Operations(app, {})
    assert app.opening is not None


def test_sigterm_ends_the_loop(app):
    Operations(app, {})
    app.running = True
    os.kill(os.getpid(), signal.SIGTERM)
    assert app.running is False


def test_run_sends_ready_then_stopping(app, tmp_path):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        listener.settimeout(5.0)
        run_kiosk_app(app, {"NOTIFY_SOCKET": str(path), "SDL_VIDEODRIVER": "dummy"})
        first = listener.recv(4096).decode().splitlines()[0]
        second = listener.recv(4096).decode()
    assert (first, second) == ("READY=1", "STOPPING=1")


def test_run_stops_app_after_loop(app):
    run_kiosk_app(app, {"SDL_VIDEODRIVER": "dummy"})
    assert app.calls == ["start", "run", "stop"]


def test_gpu_probe_without_nvidia_smi():
    probe = GpuMemoryProbe(60.0)
    probe.command = None
    probe.start()
    probe.stop()
    assert probe.used_mb is None


def test_status_line_counts_jobs(app):
    operations = Operations(app, {})
    app.jobs_done = 3
    assert operations.extra_stats()["jobs_done"] == 3


def test_finish_stops_worker_within_budget(app):
    stops = []
    app.worker = types.SimpleNamespace(state="idle", stop=lambda timeout: stops.append(timeout))
    Operations(app, {}).finish()
    assert stops == [4.0]


def test_finish_kills_starting_worker_sooner(app):
    stops = []
    app.worker = types.SimpleNamespace(state="starting", stop=lambda timeout: stops.append(timeout))
    Operations(app, {}).finish()
    assert stops == [1.0]
