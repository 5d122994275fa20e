import json
import tomllib

import cv2
import numpy as np
import pytest

from installation.cli import main
from installation.config import load_settings
from installation.capture.synthetic import place_painting

from tests.capture.conftest import read_rgb
from tests.conftest import ROOT


@pytest.fixture
def config(tmp_path):
    """A copy of the default settings with the archive in a temporary folder."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('path = "archive"', f'path = "{tmp_path / "archive"}"', 1)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def wall_photo(tmp_path, paintings):
    painting = read_rgb(paintings[3])
    photo = place_painting(painting, np.random.default_rng(11), size=(960, 540), frame=False,
                           hand=False, glare=False)
    path = tmp_path / "wall.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path, photo, painting


@pytest.fixture
def empty_photo(tmp_path):
    path = tmp_path / "empty.png"
    cv2.imwrite(str(path), np.full((300, 400, 3), 170, np.uint8))
    return path


def test_detect_json_prints_corners(config, wall_photo, capsys):
    path, photo, painting = wall_photo
    assert main(["--config", str(config), "detect", str(path), "--json"]) == 0
    corners = np.array(json.loads(capsys.readouterr().out)["corners"])
    assert np.abs(corners - photo.corners).max() < 6.0


def test_detect_no_canvas_exit_status(config, empty_photo):
    assert main(["--config", str(config), "detect", str(empty_photo), "--json"]) == 1


def test_detect_no_canvas_reason(config, empty_photo, capsys):
    main(["--config", str(config), "detect", str(empty_photo), "--json"])
    assert json.loads(capsys.readouterr().out)["reason"]


def test_calibrate_corners_saved(config):
    assert main(["--config", str(config), "calibrate", "--corners", "500,20, 480,300, 10,290, 20,10"]) == 0
    assert load_settings(config).capture.corners == (20.0, 10.0, 500.0, 20.0, 480.0, 300.0, 10.0, 290.0)


def test_calibrate_keeps_other_settings(config):
    before = tomllib.loads(config.read_text(encoding="utf-8"))
    main(["--config", str(config), "calibrate", "--corners", "500,20,480,300,10,290,20,10"])
    after = tomllib.loads(config.read_text(encoding="utf-8"))
    after["capture"]["corners"] = before["capture"]["corners"]
    assert after == before


def test_calibrate_clear(config):
    main(["--config", str(config), "calibrate", "--corners", "500,20,480,300,10,290,20,10"])
    main(["--config", str(config), "calibrate", "--clear"])
    assert load_settings(config).capture.corners == ()


def test_calibrate_bad_corners_rejected(config):
    assert main(["--config", str(config), "calibrate", "--corners", "1,2,3"]) == 1


def test_calibrate_without_screen_says_so(config, capsys):
    assert main(["--config", str(config), "calibrate"]) == 1
    assert "--corners" in capsys.readouterr().err


def test_import_rectify_stores_canvas(config, wall_photo):
    path, photo, painting = wall_photo
    assert main(["--config", str(config), "import", "--rectify", str(path)]) == 0
    node = load_settings(config)
    from installation.archive import Archive

    with Archive(node.archive_dir()) as archive:
        stored = archive.nodes()[0]
    assert abs(stored.width / stored.height - painting.shape[1] / painting.shape[0]) < 0.05


def test_import_rectify_rejects_empty_photo(config, empty_photo):
    assert main(["--config", str(config), "import", "--rectify", str(empty_photo)]) == 1


def test_capture_from_photo_stores_painting(config, wall_photo, capsys):
    path, photo, painting = wall_photo
    assert main(["--config", str(config), "capture", "--from", str(path)]) == 0
