import time

import numpy as np

from installation.capture.camera import CameraFeed
from installation.config import CaptureSettings
from installation.state import StateBoard

from tests.capture.conftest import hanging_frames, noisy, write_video


def settings_for(video, **changes) -> CaptureSettings:
    values = dict(source="video", video_path=str(video), detect_interval_s=0.0, still_seconds=1.0,
                  reopen_min_s=0.1, reopen_max_s=0.4, frozen_after_s=1.0, width=0, height=0)
    values.update(changes)
    return CaptureSettings(**values)


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


class Recorder(StateBoard):
    """A StateBoard that remembers every camera state written to it, in order."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def update(self, **changes) -> None:
        camera = changes.get("camera")
        if camera is not None and (not self.seen or self.seen[-1] != camera):
            self.seen.append(camera)
        super().update(**changes)

    def poll(self) -> list[str]:
        return list(self.seen)


def test_feed_video_finds_canvas(hanging_video):
    feed = CameraFeed(settings_for(hanging_video))
    feed.start()
    try:
        found = wait_for(lambda: feed.latest()[1] is not None)
    finally:
        feed.stop()
    assert found


def test_feed_latest_frame_is_rgb_of_video_size(hanging_video):
    feed = CameraFeed(settings_for(hanging_video))
    feed.start()
    try:
        wait_for(lambda: feed.latest()[0] is not None)
        frame, _, timestamp = feed.latest()
    finally:
        feed.stop()
    assert frame.shape == (360, 640, 3)


def test_feed_state_on_board(hanging_video):
    board = StateBoard()
    feed = CameraFeed(settings_for(hanging_video), board)
    feed.start()
    try:
        ok = wait_for(lambda: board.snapshot()[0].camera == "ok")
    finally:
        feed.stop()
    assert ok


def test_feed_recovers_when_source_returns(tmp_path, scene):
    video = tmp_path / "late.avi"  # missing at start, as an unplugged camera
    recorder = Recorder()
    feed = CameraFeed(settings_for(video), recorder)
    feed.start()
    try:
        lost = wait_for(lambda: "lost" in recorder.poll(), timeout=10)
        write_video(tmp_path / "writing.avi", hanging_frames(scene, settle_frames=5)).rename(video)
        recovered = wait_for(lambda: recorder.poll()[-1] == "ok", timeout=20)
    finally:
        feed.stop()
    assert lost
    assert recovered


def test_feed_reopens_after_end_of_video(tmp_path, scene):
    video = write_video(tmp_path / "short.mp4", hanging_frames(scene, settle_frames=3))
    recorder = Recorder()
    feed = CameraFeed(settings_for(video), recorder)
    feed.start()
    try:
        again = wait_for(lambda: recorder.poll()[-4:] == ["ok", "lost", "opening", "ok"], timeout=20)
    finally:
        feed.stop()
    assert again


def test_feed_frozen_camera_detected(tmp_path, scene):
    still = noisy(scene.image, np.random.default_rng(0))
    video = write_video(tmp_path / "frozen.avi", [still] * 40)
    recorder = Recorder()
    feed = CameraFeed(settings_for(video, frozen_after_s=0.5), recorder)
    feed.start()
    try:
        frozen = wait_for(lambda: "frozen" in recorder.poll(), timeout=20)
    finally:
        feed.stop()
    assert frozen


def test_feed_source_none_not_started():
    board = StateBoard()
    feed = CameraFeed(CaptureSettings(source="none"), board)
    feed.start()
    assert feed.latest()[0] is None
    assert board.snapshot()[0].camera == "none"


def test_video_plays_at_its_own_rate(tmp_path, scene):
    from installation.capture.sources import VideoFileSource

    video = write_video(tmp_path / "slow.avi", [noisy(scene.image, np.random.default_rng(0))] * 3, fps=5.0)
    source = VideoFileSource(video, settings_for(video, fps=30.0))
    source.open()
    try:
        assert source._interval == 0.2  # the file's 5 frames a second, not the camera's requested 30
    finally:
        source.close()
