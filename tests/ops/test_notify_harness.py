"""The real kiosk under a stand-in for systemd: notify messages, watchdog, restart and clean stop."""

import signal

import psutil
import pytest

from tests.ops.kiosk import Kiosk, alive


@pytest.fixture
def archive_dir(archive, paintings):
    archive.import_photo(paintings[0])
    return archive.folder


@pytest.fixture
def kiosks(tmp_path):
    started = []

    def start(archive_dir, *overrides, watchdog_usec=1_000_000):
        kiosk = Kiosk(tmp_path, archive_dir, list(overrides), watchdog_usec).start()
        started.append(kiosk)
        return kiosk

    yield start
    for kiosk in started:
        kiosk.close()


def test_ready_status_then_clean_stop(kiosks, archive_dir):
    kiosk = kiosks(archive_dir)
    kiosk.wait_for("READY=1")
    kiosk.wait_for("WATCHDOG=1")
    status = kiosk.wait_for("STATUS=scene")
    processes = kiosk.tree()

    # systemd's KillMode=mixed sends SIGTERM to the main process only.
    kiosk.signal(signal.SIGTERM)
    kiosk.wait_for("STOPPING=1")
    code = kiosk.wait()

    assert "node 1" in status
    assert code == 0
    assert alive(processes) == []


def test_frozen_loop_misses_watchdog_and_restarts(kiosks, archive_dir):
    frozen = kiosks(archive_dir, "service.freeze_after_s=6", watchdog_usec=500_000)
    frozen.wait_for("READY=1")
    frozen.wait_for("WATCHDOG=1")

    # Six watchdog intervals without a ping: systemd would have acted after one.
    noticed = frozen.silence("WATCHDOG=1", quiet=3.0)
    assert noticed
    assert frozen.process.poll() is None

    # systemd's WatchdogSignal is SIGABRT; then Restart=on-failure starts the program again.
    frozen.signal(signal.SIGABRT)
    assert frozen.wait() == -signal.SIGABRT
    restarted = kiosks(archive_dir)
    restarted.wait_for("READY=1")
    assert restarted.wait_for("WATCHDOG=1") == "WATCHDOG=1"
