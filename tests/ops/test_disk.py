from installation.config import DiskSettings
from installation.disk import DiskGuard
from installation.state import StateBoard
from installation.texts import Texts

MB = 2**20


class FakeDisk:
    def __init__(self, free_mb: int):
        self.free_mb = free_mb

    def __call__(self, path) -> int:
        return self.free_mb * MB


def guard(tmp_path, disk, board=None) -> DiskGuard:
    settings = DiskSettings(pause_below_mb=1000, resume_margin_mb=200, check_interval_s=60.0)
    return DiskGuard(settings, tmp_path, board=board, texts=Texts("en"), free_bytes=disk)


def test_enough_space_not_paused(tmp_path):
    assert guard(tmp_path, FakeDisk(5000)).check() is False


def test_low_space_pauses(tmp_path):
    assert guard(tmp_path, FakeDisk(999)).check() is True


def test_pause_shows_message(tmp_path):
    board = StateBoard()
    guard(tmp_path, FakeDisk(999), board).check()
    assert "999 MB free" in board.snapshot()[0].last_error


def test_resume_needs_margin(tmp_path):
    disk = FakeDisk(999)
    watch = guard(tmp_path, disk)
    watch.check()
    disk.free_mb = 1100
    assert watch.check() is True


def test_resume_clears_message(tmp_path):
    disk, board = FakeDisk(999), StateBoard()
    watch = guard(tmp_path, disk, board)
    watch.check()
    disk.free_mb = 1300
    watch.check()
    assert board.snapshot()[0].last_error == ""


def test_resume_keeps_newer_error(tmp_path):
    disk, board = FakeDisk(999), StateBoard()
    watch = guard(tmp_path, disk, board)
    watch.check()
    board.update(last_error="camera lost")
    disk.free_mb = 1300
    watch.check()
    assert board.snapshot()[0].last_error == "camera lost"


def test_unreadable_disk_keeps_state(tmp_path):
    def broken(path):
        raise OSError(5, "Input/output error")

    assert guard(tmp_path, broken).check() is False


def test_real_disk_thread_starts_and_stops(tmp_path):
    watch = DiskGuard(DiskSettings(pause_below_mb=0, check_interval_s=0.1), tmp_path)
    watch.start()
    watch.stop()
    assert watch.free_mb > 0
