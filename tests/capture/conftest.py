"""Stand-ins for a camera: synthetic photos and video files written with OpenCV."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from installation.capture.synthetic import place_painting

FRAME_SIZE = (640, 360)  # width, height of the test videos, pixels


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture
def painting(paintings) -> np.ndarray:
    return read_rgb(paintings[3])


def make_scene(paintings):
    """A painting hung on a plain wall, nearly straight on, with its true corners."""
    rng = np.random.default_rng(7)
    return place_painting(read_rgb(paintings[3]), rng, size=FRAME_SIZE, max_tilt_deg=15, fraction=(0.6, 0.7),
                          frame=False, hand=False, glare=False)


@pytest.fixture
def scene(paintings):
    return make_scene(paintings)


def noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add camera noise, so no two frames are identical, as with a real sensor."""
    return np.clip(image + rng.normal(0, 2.0, image.shape), 0, 255).astype(np.uint8)


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    codec = "MJPG" if path.suffix == ".avi" else "mp4v"
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def hanging_frames(scene, settle_frames: int = 30) -> list[np.ndarray]:
    """An empty wall, then the painting with a hand passing over it, then the painting still."""
    rng = np.random.default_rng(3)
    wall = np.full_like(scene.image, scene.image[5, 5])
    frames = [noisy(wall, rng) for _ in range(5)]
    for step in range(10):
        frame = scene.image.copy()
        x = int(scene.corners[:, 0].min() + step * 30)
        cv2.ellipse(frame, (x, int(scene.corners[:, 1].mean())), (40, 30), 0, 0, 360, (200, 150, 120), -1)
        cv2.line(frame, (x, int(scene.corners[:, 1].mean())), (x + 40, FRAME_SIZE[1]), (200, 150, 120), 40)
        frames.append(noisy(frame, rng))
    frames += [noisy(scene.image, rng) for _ in range(settle_frames)]
    return frames


@pytest.fixture
def hanging_video(tmp_path, scene) -> Path:
    return write_video(tmp_path / "hanging.avi", hanging_frames(scene))
