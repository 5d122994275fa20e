from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from installation.capture.canvas import Detection
from installation.capture.kiosk import attach_camera
from installation.config import CaptureSettings, Settings
from installation.state import StateBoard

from tests.capture.conftest import noisy


class RecordingWorker:
    """Stands in for the WorkerClient: records the jobs submitted to it."""

    def __init__(self):
        self.jobs = []

    def submit(self, job) -> str:
        self.jobs.append(job)
        return job.id


def kiosk(tmp_path: Path):
    settings = replace(Settings(), capture=CaptureSettings(source="video", still_seconds=1.0,
                                                           live_painting=True))
    return SimpleNamespace(settings=settings, board=StateBoard(), services=[], on_frame=[], camera=None,
                           archive_dir=tmp_path / "archive", worker=RecordingWorker(), loader=None)


def settle(feed, scene, start: float) -> None:
    rng = np.random.default_rng(0)
    for step in range(10):
        feed.session.observe(noisy(scene.image, rng), Detection(scene.corners, 0.9), start + 0.2 * step)


def test_attach_camera_adds_service(tmp_path):
    app = kiosk(tmp_path)
    feed = attach_camera(app)
    assert app.services == [feed]
    assert app.camera is feed


def test_live_state_requests_generate_job(tmp_path, scene):
    app = kiosk(tmp_path)
    feed = attach_camera(app)
    settle(feed, scene, 0.0)
    for hook in app.on_frame:
        hook(0.0)
    feed.session.close()
    assert [job.kind for job in app.worker.jobs] == ["generate"]
    assert app.worker.jobs[0].params["network"] == "patches"
