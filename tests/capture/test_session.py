import queue

import cv2
import numpy as np
import pytest

from installation.archive import Archive
from installation.capture.camera import CameraFeed
from installation.capture.canvas import Detection
from installation.capture.session import CaptureSession
from installation.config import CaptureSettings
from PIL import Image

from tests.capture.conftest import hanging_frames, make_scene, noisy, write_video
from tests.conftest import painting_paths
from tests.capture.test_camera import settings_for


def next_result(session: CaptureSession, timeout: float = 40.0):
    try:
        return session.results.get(timeout=timeout)
    except queue.Empty:
        return None


@pytest.fixture(scope="module")
def hung(tmp_path_factory):
    """Play the video of a painting being hung until it is captured once and then seen again."""
    folder = tmp_path_factory.mktemp("hung")
    video = write_video(folder / "hanging.avi", hanging_frames(make_scene(painting_paths())))
    settings = settings_for(video)
    session = CaptureSession(settings, lambda: Archive(folder / "archive"))
    feed = CameraFeed(settings, session=session)
    feed.start()
    try:
        first = next_result(session)
        second = next_result(session)  # the video plays again from its start: the same painting
    finally:
        feed.stop()
    with Archive(folder / "archive") as archive:
        yield archive, first, second


def test_hanging_video_stores_one_painting(hung):
    archive, first, second = hung
    assert [node.kind for node in archive.nodes()] == ["painting"]


def test_hanging_video_first_capture_stored(hung):
    archive, first, second = hung
    assert first.outcome == "stored"


def test_hanging_video_replay_is_duplicate(hung):
    archive, first, second = hung
    assert second.outcome == "duplicate"


def test_capture_keeps_corners_and_raw_frame(hung, scene):
    archive, first, second = hung
    node = archive.node(first.node_id)
    corners = np.array(node.provenance["capture"]["corners"])
    assert np.abs(corners - scene.corners).max() < 4.0
    with Image.open(archive.file_path(node, "original")) as raw:
        assert raw.size == (640, 360)


def test_capture_rectified_to_canvas_proportions(hung, painting):
    archive, first, second = hung
    node = archive.node(first.node_id)
    assert abs(node.width / node.height - painting.shape[1] / painting.shape[0]) < 0.05


def settled(session: CaptureSession, frame: np.ndarray, corners: np.ndarray, start: float,
            rng: np.random.Generator):
    """Feed the same scene for 3 s of frames at 5 per second; return the last result."""
    result = None
    for step in range(16):
        result = session.observe(noisy(frame, rng), Detection(corners, 0.95), start + step * 0.2) or result
    return result


def test_capture_request_sets_parent(archive, scene, paintings):
    parent = archive.import_photo(paintings[0])
    session = CaptureSession(CaptureSettings(still_seconds=1.0), lambda: archive)
    session.auto = False
    session.request_capture(parent.id)
    result = settled(session, scene.image, scene.corners, 0.0, np.random.default_rng(1))
    assert archive.node(result.node_id).parents == (parent.id,)


def test_capture_without_request_not_stored(archive, scene):
    session = CaptureSession(CaptureSettings(still_seconds=1.0), lambda: archive)
    session.auto = False
    settled(session, scene.image, scene.corners, 0.0, np.random.default_rng(1))
    assert archive.count() == 0


def test_capture_moving_scene_not_stored(archive, scene):
    session = CaptureSession(CaptureSettings(still_seconds=1.0), lambda: archive)
    rng = np.random.default_rng(2)
    for step in range(16):
        frame = scene.image.copy()
        cv2.circle(frame, (40 * step % 600, 180), 60, (200, 150, 120), -1)  # a hand that keeps moving
        session.observe(noisy(frame, rng), Detection(scene.corners, 0.95), step * 0.2)
    assert archive.count() == 0


@pytest.fixture
def live(archive, scene):
    """Live painting: the canvas settles, the painter adds a stroke, it settles again."""
    answers = []
    session = CaptureSession(CaptureSettings(still_seconds=1.0, live_painting=True), lambda: archive,
                             answer=lambda node_id, state_id: answers.append((node_id, state_id)))
    rng = np.random.default_rng(3)
    first = settled(session, scene.image, scene.corners, 0.0, rng)
    stroke = scene.image.copy()
    centre = scene.corners.mean(0).astype(int)
    cv2.rectangle(stroke, tuple(centre - 60), tuple(centre + 60), (20, 200, 40), -1)
    session.observe(noisy(scene.image, rng), Detection(None, 0.0, "hand in the way"), 3.5)
    second = settled(session, stroke, scene.corners, 4.0, rng)
    return archive, session, first, second, answers


def test_live_first_picture_makes_node(live):
    archive, session, first, second, answers = live
    assert [node.kind for node in archive.nodes()] == ["painting"]


def test_live_change_stored_as_state(live):
    archive, session, first, second, answers = live
    assert [state.number for state in archive.states(first.node_id)] == [1, 2]


def test_live_second_state_same_node(live):
    archive, session, first, second, answers = live
    assert second.node_id == first.node_id


def test_live_each_state_answered(live):
    archive, session, first, second, answers = live
    assert answers == [(first.node_id, first.state_id), (second.node_id, second.state_id)]


def test_live_unchanged_canvas_no_new_state(live, scene):
    archive, session, first, second, answers = live
    session.observe(scene.image, Detection(None, 0.0, "hand in the way"), 8.0)
    result = settled(session, scene.image, scene.corners, 8.5, np.random.default_rng(4))
    assert result.outcome == "state"  # back to the first picture: a change from the stroke


def test_states_files_pass_verify(live):
    archive, session, first, second, answers = live
    assert archive.verify().ok


def test_capture_waits_while_disk_is_nearly_full(archive, scene):
    full = [True]
    session = CaptureSession(CaptureSettings(still_seconds=1.0), lambda: archive, paused=lambda: full[0])
    results = []
    rng = np.random.default_rng(5)
    for step in range(16):
        results.append(session.observe(noisy(scene.image, rng), Detection(scene.corners, 0.95), step * 0.2))
    assert [result.outcome for result in results if result is not None] == ["paused"]
    assert archive.count() == 0
    full[0] = False
    result = session.observe(noisy(scene.image, rng), Detection(scene.corners, 0.95), 3.4)
    assert result.outcome == "stored"
    assert archive.count() == 1


def test_live_answer_starts_from_the_state_picture(live):
    from installation.config import load_settings
    from installation.jobs import JobContext
    from models import job_handlers

    archive, session, first, second, answers = live
    settings = load_settings(overrides=["networks.output_side=48", "networks.patch_coarsest_side=16",
                                        "networks.patch_iterations=1"])
    context = JobContext("live", archive, "cpu", settings, lambda *report: None, lambda: False)
    result = job_handlers.generate({"node_id": second.node_id, "state_id": second.state_id, "seed": 3}, context)
    child = archive.node(result["node_ids"][0])
    assert child.parents == (second.node_id,)
    assert child.provenance["live_state"] == archive.state(second.state_id).number
    assert archive.state(second.state_id).answer == child.id
