import dataclasses
import os
import socket

import cv2
import numpy as np
import pytest

from installation.config import Settings, load_settings
from installation.doctor import OK, PROBLEM, WARNING, Doctor, format_table
from installation.texts import Texts

HEADLESS = {**os.environ, "SDL_VIDEODRIVER": "dummy"}


HAS_OSC = "osc" in {f.name for f in dataclasses.fields(Settings)}


def doctor(tmp_path, *overrides, environ=HEADLESS) -> Doctor:
    # Port 0 keeps the checks from depending on whether the default OSC port is free here.
    free_port = ["osc.port=0"] if HAS_OSC else []
    settings = load_settings(overrides=[f"archive.path={tmp_path / 'archive'}", *free_port, *overrides])
    return Doctor(settings, environ)


def write_video(path, frames=5):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for index in range(frames):
        writer.write(np.full((48, 64, 3), index * 40, np.uint8))
    writer.release()


def test_archive_ok(tmp_path, paintings):
    from installation.archive import Archive

    with Archive(tmp_path / "archive") as archive:
        archive.import_photo(paintings[0])
    assert doctor(tmp_path).check_archive().state == OK


def test_archive_missing_file_is_problem(tmp_path, paintings):
    from installation.archive import Archive

    with Archive(tmp_path / "archive") as archive:
        node = archive.import_photo(paintings[0])
        archive.image_path(node).unlink()
    assert doctor(tmp_path).check_archive().state == PROBLEM


def test_new_archive_is_warning_and_not_created(tmp_path):
    finding = doctor(tmp_path).check_archive()
    assert (finding.state, (tmp_path / "archive").exists()) == (WARNING, False)


def test_low_disk_is_problem(tmp_path):
    assert doctor(tmp_path, "disk.pause_below_mb=100000000").check_disk().state == PROBLEM


def test_pause_below_archive_floor_warns(tmp_path):
    finding = doctor(tmp_path, "disk.pause_below_mb=10", "archive.min_free_mb=500").check_settings()
    assert finding.state == WARNING


def test_missing_closed_image_is_problem(tmp_path):
    finding = doctor(tmp_path, f"schedule.closed_image={tmp_path / 'none.png'}").check_schedule()
    assert finding.state == PROBLEM


def test_texts_ok(tmp_path):
    assert doctor(tmp_path).check_texts().state == OK


@pytest.mark.skipif(not HAS_OSC, reason="no [osc] settings in this version")
def test_busy_osc_port_is_problem(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        finding = doctor(tmp_path, "osc.host=127.0.0.1", f"osc.port={port}").check_osc_port()
    assert finding.state == PROBLEM


def test_video_camera_gives_frames(tmp_path):
    video = tmp_path / "camera.avi"
    write_video(video)
    finding = doctor(tmp_path, "capture.source=video", f"capture.video_path={video}").check_camera()
    assert finding.state == OK


def test_missing_camera_is_problem(tmp_path):
    finding = doctor(tmp_path, "capture.source=video", f"capture.video_path={tmp_path / 'none.avi'}").check_camera()
    assert finding.state == PROBLEM


def test_headless_display_opens(tmp_path):
    assert doctor(tmp_path).check_display().state == OK


def test_display_not_ready_named(tmp_path):
    environ = {k: v for k, v in os.environ.items() if k not in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY")}
    finding = doctor(tmp_path, "service.display=desktop", environ=environ).check_display()
    assert finding.params["reason"] == "neither DISPLAY nor WAYLAND_DISPLAY is set"


def test_table_has_fix_in_spanish(tmp_path):
    findings = [doctor(tmp_path, "disk.pause_below_mb=100000000").check_disk()]
    assert "-> Libere espacio" in format_table(findings, Texts("es"))


def test_cli_exit_status_on_problem(tmp_path, capsys, monkeypatch):
    from installation.cli import main

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    code = main(["--set", f"archive.path={tmp_path / 'archive'}", "--set", "disk.pause_below_mb=100000000",
                 "--set", "general.language=en", "doctor"])
    output = capsys.readouterr().out
    assert code == 1
    assert "-> Free space on that disk" in output


def test_screen_font_has_text_characters(tmp_path):
    assert doctor(tmp_path).check_fonts().state == OK


def test_missing_glyph_detected():
    import pygame

    from installation.doctor import _lacks_glyph

    pygame.font.init()
    assert _lacks_glyph(pygame.font.Font(None, 24), "\u2603")
