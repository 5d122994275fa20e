import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from installation.config import ServiceSettings, Settings, load_settings
from installation.service import (Notifier, ServiceMonitor, display_missing, render_unit,
                                  wait_for_display)
from installation.state import StateBoard
from installation.texts import TwowayError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def listener(tmp_path):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5.0)
        yield str(path), sock


def receive(sock) -> str:
    return sock.recv(4096).decode()


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_notifier_sends_ready(listener):
    path, sock = listener
    Notifier(path).ready()
    assert receive(sock).splitlines()[0] == "READY=1"


def test_notifier_abstract_socket():
    name = f"twoway-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5.0)
        Notifier("@" + name).watchdog()
        assert receive(sock) == "WATCHDOG=1"


def test_notifier_without_socket_is_silent():
    assert Notifier(None).ready() is False


def test_notifier_to_missing_socket_does_not_raise(tmp_path):
    assert Notifier(str(tmp_path / "gone")).watchdog() is False


def test_watchdog_interval_from_environment():
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "3000000"})
    assert notifier.watchdog_interval == 3.0


def test_watchdog_for_other_process_ignored():
    environ = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier.from_environment(environ).watchdog_interval == 0


def test_monitor_ready_once_then_watchdog(listener):
    path, sock = listener
    clock = FakeClock()
    monitor = ServiceMonitor(ServiceSettings(), Notifier(path, watchdog_usec=3_000_000), clock=clock)
    monitor.on_frame(0.016)
    clock.now += 1.1
    monitor.on_frame(0.016)
    messages = [receive(sock).splitlines()[0], receive(sock)]
    assert messages == ["READY=1", "WATCHDOG=1"]


def test_monitor_status_for_systemd(listener):
    path, sock = listener
    board = StateBoard()
    board.update(scene="tree", node_id=7, fps=59.5, worker="idle")
    clock = FakeClock()
    monitor = ServiceMonitor(ServiceSettings(), Notifier(path), board=board, clock=clock)
    monitor.on_frame(0.016)
    clock.now += 6
    monitor.on_frame(0.016)
    receive(sock)  # READY=1
    assert receive(sock) == "STATUS=scene tree, node 7, 59.5 fps, worker idle"


def test_status_line_fields():
    board = StateBoard()
    board.update(queue=2, camera="lost")
    clock = FakeClock()
    monitor = ServiceMonitor(ServiceSettings(status_interval_s=60), Notifier(None), board=board,
                             extra_stats=lambda: {"jobs_done": 4}, clock=clock)
    for _ in range(120):
        clock.now += 0.5
        monitor.on_frame(0.02)
    fields = dict(item.split("=") for item in monitor.last_line.split())
    assert (fields["fps"], fields["p99_ms"], fields["queue"], fields["camera"], fields["jobs_done"]) == \
        ("2.0", "20.0", "2", "lost", "4")


def test_status_line_has_rss():
    monitor = ServiceMonitor(ServiceSettings(), Notifier(None))
    monitor.on_frame(0.01)
    assert "rss_mb=" in monitor.log_status_line(1.0)


def test_dummy_driver_needs_no_display():
    assert display_missing("kms", {"SDL_VIDEODRIVER": "dummy"}) == ""


def test_desktop_without_display_named():
    assert "DISPLAY" in display_missing("desktop", {})


def test_missing_x_socket_named():
    assert "X987" in display_missing("desktop", {"DISPLAY": ":987"})


def test_wayland_socket_found(tmp_path):
    (tmp_path / "wayland-1").touch()
    assert display_missing("cage", {"WAYLAND_DISPLAY": "wayland-1", "XDG_RUNTIME_DIR": str(tmp_path)}) == ""


def test_wait_for_display_gives_up():
    settings = ServiceSettings(display="desktop", display_wait_s=0)
    with pytest.raises(TwowayError, match="DISPLAY"):
        wait_for_display(settings, {}, poll=0.01)


def test_checked_in_unit_is_current():
    root = Path("/opt/twoway")
    expected = render_unit(Settings(), root=root, python=root / ".venv/bin/python", config=root / "config.toml")
    assert (ROOT / "systemd" / "twoway.service").read_text() == expected


@pytest.mark.parametrize("line", ["Type=notify", "WatchdogSec=30", "Restart=on-failure", "User=twoway",
                                  "SupplementaryGroups=video render input", "StateDirectory=twoway"])
def test_unit_has_line(line):
    assert line in render_unit(Settings()).splitlines()


def test_cage_unit_lets_child_notify():
    text = render_unit(load_settings(overrides=["service.display=cage"]))
    assert "NotifyAccess=all" in text.splitlines()


def test_desktop_unit_is_user_unit():
    text = render_unit(load_settings(overrides=["service.display=desktop"]))
    assert not any(line.startswith("User=") for line in text.splitlines())


def test_unit_quotes_path_with_space():
    text = render_unit(Settings(), root=Path("/opt/two way"))
    assert 'ExecStart="/opt/two way/.venv/bin/python" -m installation --config "/opt/two way/config.toml"' in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_passes_systemd_analyze(tmp_path):
    unit = tmp_path / "twoway.service"
    unit.write_text(render_unit(Settings(), root=ROOT, python=Path(sys.executable)))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_install_print(capsys):
    from installation.cli import main

    assert main(["service", "install", "--print"]) == 0
    assert "Type=notify" in capsys.readouterr().out


def test_install_writes_target(tmp_path):
    from installation.cli import main

    target = tmp_path / "units" / "twoway.service"
    main(["service", "install", "--target", str(target)])
    assert "WatchdogSec=30" in target.read_text()
