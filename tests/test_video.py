"""Morph videos: sizes, easing, framing, and real H.264 files read back with OpenCV and ffmpeg."""

import subprocess
import sys

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from installation.config import VideoSettings
from installation.video import (
    ease, fit_frame, parse_video_size, render_node_video, render_video, total_frames,
    walk_node_ids,
)
from installation.texts import TwowayError

# Tiny and short: 2 + 4 + 2 frames per morph at 64x48 pixels.
SMALL = VideoSettings(width=64, height=48, fps=8, morph_seconds=0.5, hold_seconds=0.25, crf=23)


def read_frames(path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def stream_info(path) -> dict:
    reader = imageio_ffmpeg.read_frames(str(path))
    info = next(reader)
    reader.close()
    return info


def flat(colour, width=64, height=48) -> np.ndarray:
    return np.full((height, width, 3), colour, dtype=np.uint8)


def test_video_size_parsed_even():
    assert parse_video_size("1080x1350") == (1080, 1350)
    assert parse_video_size("321 x 241") == (320, 240)


@pytest.mark.parametrize("text", ["1080", "axb", "8x8", "100000x100"])
def test_video_size_rejected(text):
    with pytest.raises(TwowayError) as caught:
        parse_video_size(text)
    assert caught.value.key == "video.bad_size"


def test_ease_ends_and_middle():
    assert ease(0.0) == 0.0
    assert ease(1.0) == pytest.approx(1.0)
    assert ease(0.5) == pytest.approx(0.5)
    assert ease(0.1) < 0.1


def test_fit_frame_letterboxes_wide_picture():
    picture = flat((200, 100, 50), width=100, height=50)
    frame = fit_frame(picture, (64, 64))
    assert frame.shape == (64, 64, 3)
    assert frame[0, 32].tolist() == [0, 0, 0]
    assert frame[32, 32].tolist() == [200, 100, 50]


def test_frame_count_formula():
    # Three pictures: 3 holds of 2 frames and 2 morphs of 4 frames.
    assert total_frames(3, SMALL) == 14


def test_morph_video_is_h264_with_stills(tmp_path):
    red, blue = flat((220, 30, 30)), flat((30, 30, 220))
    summary = render_video([red, blue], tmp_path / "morph.mp4", SMALL)

    info = stream_info(summary.path)
    assert info["codec"] == "h264"
    assert info["pix_fmt"].startswith("yuv420p")
    assert info["size"] == (64, 48)

    frames = read_frames(summary.path)
    assert len(frames) == summary.frames == 8
    assert np.abs(frames[0].astype(int) - red).mean() < 8  # still of the ancestor
    assert np.abs(frames[-1].astype(int) - blue).mean() < 8  # still of the child
    assert 60 < frames[4][..., 2].mean() < 200  # part way through the morph


def test_bad_suffix_writes_nothing(tmp_path):
    with pytest.raises(TwowayError) as caught:
        render_video([flat(0), flat(255)], tmp_path / "morph.avi", SMALL)
    assert caught.value.key == "video.bad_format"
    assert list(tmp_path.iterdir()) == []


def test_single_picture_rejected(tmp_path):
    with pytest.raises(TwowayError) as caught:
        render_video([flat(0)], tmp_path / "morph.mp4", SMALL)
    assert caught.value.key == "video.walk_empty"


def test_child_of_painting_video(archive, paintings, tmp_path):
    painting = archive.import_photo(paintings[3])
    picture = archive.load_image(painting)
    picture.thumbnail((96, 96))
    child = archive.add_machine_image(picture.rotate(180), [painting.id], network="patches",
                                      version="1", seed=1)
    seen = []

    summary = render_node_video(archive, [painting.id, child.id], tmp_path / "child.mp4", SMALL,
                                size=(80, 60), progress=lambda done, total: seen.append((done, total)))

    assert summary.path.is_file()
    assert (summary.width, summary.height) == (80, 60)
    assert seen[-1] == (8, 8)
    assert len(read_frames(summary.path)) == 8


def test_walk_order_depth_first(archive, paintings):
    first = archive.import_photo(paintings[0])
    picture = archive.load_image(first).resize((32, 32))
    child_a = archive.add_machine_image(picture, [first.id], network="patches", version="1", seed=1)
    second = archive.import_photo(paintings[1], parents=[child_a.id])
    child_b = archive.add_machine_image(picture, [first.id], network="patches", version="1", seed=2)
    hidden = archive.add_machine_image(picture, [first.id], network="patches", version="1", seed=3)
    archive.set_flag(hidden.id, "hidden", True)

    assert walk_node_ids(archive) == [first.id, child_a.id, second.id, child_b.id]


def test_cli_video_command(tmp_path, paintings):
    config = tmp_path / "config.toml"
    config.write_text('[archive]\npath = "archive"\n[general]\nlanguage = "en"\n', encoding="utf-8")
    twoway = [sys.executable, "-m", "installation", "--config", str(config)]
    subprocess.run(twoway + ["import", str(paintings[4]), str(paintings[0])], check=True,
                   capture_output=True)
    out = tmp_path / "walk.mp4"

    result = subprocess.run(twoway + ["video", "1", "2", "--seconds", "0.5", "--hold", "0.25",
                                      "--fps", "8", "--size", "64x48", str(out)],
                            capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert "8 frames at 64x48" in result.stdout
    assert len(read_frames(out)) == 8


def test_cli_video_needs_two_ids(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[archive]\npath = "archive"\n[general]\nlanguage = "en"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "installation", "--config", str(config),
                             "video", "1", str(tmp_path / "out.mp4")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Name two images" in result.stderr


class LatentPictureNetwork:
    """A stand-in network with a latent space: the latent is the picture itself, as floats."""

    name = "latent-test"
    decoded = 0

    def __init__(self, settings, device):
        from models.base import Abilities

        self.abilities = Abilities(needs_training=False, has_latent=True)

    def load(self, checkpoint):
        pass

    def reconstruct(self, image, progress=None):
        from models.base import Latent

        return Latent({"picture": image.astype(np.float32)})

    def check_latent(self, latent):
        pass

    def interpolate(self, start, end, t):
        from models.base import interpolate_latents

        return interpolate_latents(start, end, t)

    def decode(self, latent, side=None):
        LatentPictureNetwork.decoded += 1
        return np.clip(latent.arrays["picture"], 0, 255).astype(np.uint8)


def test_latent_morph_decodes_frames(archive, tmp_path, monkeypatch):
    from PIL import Image

    from installation.config import Settings
    from models.base import Latent

    monkeypatch.setattr("models.registry.get_network",
                        lambda name, settings, device: LatentPictureNetwork(settings, device))
    LatentPictureNetwork.decoded = 0
    red, blue = flat((220, 30, 30)), flat((30, 30, 220))
    Image.fromarray(red).save(tmp_path / "red.png")
    painting = archive.import_photo(tmp_path / "red.png")
    latent = Latent({"picture": blue.astype(np.float32)}).to_bytes()
    child = archive.add_machine_image(Image.fromarray(blue), [painting.id], network="latent-test",
                                      version="1", seed=0, latent=latent)

    summary = render_node_video(archive, [painting.id, child.id], tmp_path / "latent.mp4", SMALL,
                                network_settings=Settings(), device="cpu")

    assert LatentPictureNetwork.decoded == 3  # the morph frames before the final stored picture
    frames = read_frames(summary.path)
    assert len(frames) == 8
    assert np.abs(frames[0].astype(int) - red).mean() < 8
    assert np.abs(frames[-1].astype(int) - blue).mean() < 8


def test_failed_latent_morph_uses_flow(archive, tmp_path, monkeypatch):
    from PIL import Image

    from installation.config import Settings
    from models.base import Latent

    def broken_network(name, settings, device):
        raise RuntimeError("checkpoint unreadable")

    monkeypatch.setattr("models.registry.get_network", broken_network)
    red, blue = flat((220, 30, 30)), flat((30, 30, 220))
    Image.fromarray(red).save(tmp_path / "red.png")
    painting = archive.import_photo(tmp_path / "red.png")
    child = archive.add_machine_image(Image.fromarray(blue), [painting.id], network="multiscale",
                                      version="1", seed=0,
                                      latent=Latent({"picture": blue.astype(np.float32)}).to_bytes())

    summary = render_node_video(archive, [painting.id, child.id], tmp_path / "flow.mp4", SMALL,
                                network_settings=Settings(), device="cpu")

    assert len(read_frames(summary.path)) == 8
