"""`twoway doctor`: check everything the kiosk needs and say how to fix what is wrong.

Each check returns one `Finding` with a state ("ok", "warning" or "problem"), a
detail and a fix, as text keys so the table prints in the artist's language.
Checks that could hang (the camera, the display, the GPU) run with a time limit;
the display and GPU checks run in a child process, so torch and SDL never load
into the doctor itself.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from installation.config import Settings
from installation.schedule import Schedule
from installation.service import display_missing
from installation.texts import LANGUAGES, TEXTS_DIR, Texts, TwowayError, load_catalog

log = logging.getLogger(__name__)

OK, WARNING, PROBLEM = "ok", "warning", "problem"
# Seconds a child process may take to open the display or to load torch.
PROBE_TIMEOUT = 60.0
CAMERA_TIMEOUT = 10.0


@dataclass
class Finding:
    """The result of one check: `detail` and `fix` are text keys with their parameters."""

    check: str
    state: str
    detail: str
    params: dict = field(default_factory=dict)
    fix: str = ""

    def row(self, texts: Texts) -> tuple[str, str, str, str]:
        fix = texts(self.fix, **self.params) if self.fix else ""
        return (texts(f"doctor.check_{self.check}"), texts(f"doctor.state_{self.state}"),
                texts(self.detail, **self.params), fix)


class Doctor:
    """Run every check against one `Settings`; `environ` is the environment the kiosk would get."""

    def __init__(self, settings: Settings, environ: Mapping[str, str]):
        self.settings = settings
        self.environ = dict(environ)

    def checks(self) -> list[Callable[[], Finding]]:
        return [self.check_settings, self.check_archive, self.check_disk, self.check_schedule,
                self.check_texts, self.check_fonts, self.check_display, self.check_camera,
                self.check_osc_port, self.check_gpu]

    def run(self) -> list[Finding]:
        findings = []
        for check in self.checks():
            try:
                finding = check()
            except Exception as error:  # one broken check must not hide the others
                log.exception("doctor check %s failed", check.__name__)
                finding = Finding(check.__name__.removeprefix("check_"), PROBLEM, "doctor.crashed",
                                  {"reason": f"{type(error).__name__}: {error}"}, "doctor.fix_report")
            log.info("doctor %s: %s %s", finding.check, finding.state, finding.params)
            findings.append(finding)
        return findings

    # --- the checks --------------------------------------------------------------------

    def check_settings(self) -> Finding:
        """Check settings that are valid one by one but do not fit together."""
        disk, archive = self.settings.disk, self.settings.archive
        if disk.pause_below_mb < archive.min_free_mb:
            return Finding("settings", WARNING, "doctor.settings_disk_floor",
                           {"pause": disk.pause_below_mb, "floor": archive.min_free_mb},
                           "doctor.fix_settings_disk_floor")
        return Finding("settings", OK, "doctor.settings_ok", {"path": self.settings.source})

    def check_archive(self) -> Finding:
        from installation.archive import Archive

        folder = self.settings.archive_dir()
        if not folder.exists():
            return Finding("archive", WARNING, "doctor.archive_new", {"path": folder}, "doctor.fix_archive_new")
        try:
            with Archive(folder, self.settings.archive) as archive:
                report = archive.verify()
        except TwowayError as error:
            return Finding("archive", PROBLEM, "doctor.archive_unusable", {"reason": str(error)},
                           "doctor.fix_archive_unusable")
        params = {"path": folder, "nodes": report.nodes, "errors": len(report.errors),
                  "orphans": len(report.orphans) + len(report.temporaries)}
        if report.errors:
            for error in report.errors:
                log.warning("archive %s: %s", folder, error)
            return Finding("archive", PROBLEM, "doctor.archive_errors", params, "doctor.fix_archive_errors")
        if report.orphans or report.temporaries:
            return Finding("archive", WARNING, "doctor.archive_orphans", params, "doctor.fix_archive_orphans")
        return Finding("archive", OK, "doctor.archive_ok", params)

    def check_disk(self) -> Finding:
        folder = self.settings.archive_dir()
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        free_mb = shutil.disk_usage(existing).free // 2**20
        params = {"path": existing, "free_mb": free_mb, "pause": self.settings.disk.pause_below_mb}
        if free_mb < self.settings.disk.pause_below_mb:
            return Finding("disk", PROBLEM, "doctor.disk_low", params, "doctor.fix_disk_low")
        return Finding("disk", OK, "doctor.disk_ok", params)

    def check_schedule(self) -> Finding:
        schedule = Schedule(self.settings.schedule, self.settings.source.parent)
        if schedule.closed_image is not None and not schedule.closed_image.is_file():
            return Finding("schedule", PROBLEM, "doctor.schedule_image_missing",
                           {"path": schedule.closed_image}, "doctor.fix_schedule_image_missing")
        if not schedule.enabled:
            return Finding("schedule", OK, "doctor.schedule_off")
        now = dt.datetime.now()
        change = schedule.next_change(now)
        params = {"until": change.strftime("%Y-%m-%d %H:%M") if change else "-"}
        key = "doctor.schedule_open" if schedule.is_open(now) else "doctor.schedule_closed"
        return Finding("schedule", OK, key, params)

    def check_texts(self) -> Finding:
        catalogs = {}
        for language in LANGUAGES:
            try:
                catalogs[language] = set(load_catalog(language))
            except (OSError, ValueError) as error:
                return Finding("texts", PROBLEM, "doctor.texts_unreadable",
                               {"path": TEXTS_DIR / f"{language}.toml", "reason": error}, "doctor.fix_reinstall")
        missing = sorted(set.union(*catalogs.values()) - set.intersection(*catalogs.values()))
        if missing:
            return Finding("texts", WARNING, "doctor.texts_missing",
                           {"count": len(missing), "keys": ", ".join(missing[:5])}, "doctor.fix_reinstall")
        return Finding("texts", OK, "doctor.texts_ok", {"count": len(catalogs["en"])})

    def check_fonts(self) -> Finding:
        """Check that the screen font (pygame's bundled one) has every character of the texts."""
        import os

        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame

        characters = sorted({c for language in LANGUAGES for text in load_catalog(language).values()
                             for c in text if c.isprintable()})
        try:
            pygame.font.init()
            font = pygame.font.Font(None, 24)
            missing = [c for c in characters if _lacks_glyph(font, c)]
        except (pygame.error, OSError) as error:
            return Finding("fonts", PROBLEM, "doctor.fonts_failed", {"reason": error}, "doctor.fix_reinstall")
        finally:
            pygame.font.quit()
        if missing:
            return Finding("fonts", WARNING, "doctor.fonts_missing", {"chars": " ".join(missing)},
                           "doctor.fix_reinstall")
        return Finding("fonts", OK, "doctor.fonts_ok", {"count": len(characters)})

    def check_display(self) -> Finding:
        mode = self.settings.service.display
        reason = display_missing(mode, self.environ)
        if reason:
            return Finding("display", PROBLEM, "doctor.display_missing", {"mode": mode, "reason": reason},
                           f"doctor.fix_display_{mode}")
        result = self._probe(DISPLAY_PROBE)
        if "error" in result:
            return Finding("display", PROBLEM, "doctor.display_failed", {"mode": mode, "reason": result["error"]},
                           f"doctor.fix_display_{mode}")
        return Finding("display", OK, "doctor.display_ok", result)

    def check_camera(self) -> Finding:
        capture = self.settings.capture
        if capture.source == "none":
            return Finding("camera", OK, "doctor.camera_none")
        if capture.source == "folder":
            folder = Path(capture.watch_folder)
            state = OK if folder.is_dir() else PROBLEM
            return Finding("camera", state, f"doctor.camera_folder_{state}", {"path": folder},
                           "" if state == OK else "doctor.fix_camera_folder")
        target = {"device": capture.device_path or capture.device_index, "video": capture.video_path}[capture.source]
        frames, error = read_camera(target, CAMERA_TIMEOUT)
        params = {"camera": target, "frames": frames, "reason": error}
        if error:
            return Finding("camera", PROBLEM, "doctor.camera_failed", params, "doctor.fix_camera")
        return Finding("camera", OK, "doctor.camera_ok", params)

    def check_osc_port(self) -> Finding:
        osc = getattr(self.settings, "osc", None)
        if osc is None or not osc.enabled:
            return Finding("osc", OK, "doctor.osc_off")
        family = socket.AF_INET6 if ":" in osc.host else socket.AF_INET
        params = {"host": osc.host, "port": osc.port}
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((osc.host, osc.port))
            except OSError as error:
                params["reason"] = error.strerror
                return Finding("osc", PROBLEM, "doctor.osc_busy", params, "doctor.fix_osc_busy")
        return Finding("osc", OK, "doctor.osc_free", params)

    def check_gpu(self) -> Finding:
        result = self._probe(GPU_PROBE)
        if "error" in result:
            return Finding("gpu", WARNING, "doctor.gpu_failed", {"reason": result["error"]}, "doctor.fix_gpu")
        if not result["cuda"]:
            return Finding("gpu", WARNING, "doctor.gpu_none", {"torch": result["torch"]}, "doctor.fix_gpu")
        if result["free_mb"] < 1024:
            return Finding("gpu", WARNING, "doctor.gpu_low", result, "doctor.fix_gpu_low")
        return Finding("gpu", OK, "doctor.gpu_ok", result)

    def _probe(self, code: str) -> dict:
        """Run `code` in a child Python with the kiosk's environment and parse its JSON line."""
        try:
            done = subprocess.run([sys.executable, "-c", code], env=self.environ, capture_output=True,
                                  text=True, timeout=PROBE_TIMEOUT)
        except subprocess.TimeoutExpired:
            return {"error": f"no answer within {PROBE_TIMEOUT:.0f} s"}
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            return {"error": last}
        return json.loads(lines[-1])


def _lacks_glyph(font, character: str) -> bool:
    """Return whether `font` draws `character` as its placeholder box (the .notdef glyph)."""
    import pygame

    def drawn(text: str) -> bytes:
        return pygame.image.tobytes(font.render(text, False, (255, 255, 255), (0, 0, 0)), "RGB")

    # A private-use code point that no font has draws as the placeholder.
    return drawn(character) == drawn("\U000F0000") and not character.isspace()


DISPLAY_PROBE = """
import json, os
os.environ["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
import pygame
try:
    pygame.display.init()
    surface = pygame.display.set_mode((64, 64))
    info = {"driver": pygame.display.get_driver(), "size": "x".join(map(str, pygame.display.get_desktop_sizes()[0]))}
    pygame.display.quit()
except pygame.error as error:
    info = {"error": str(error)}
print(json.dumps(info))
"""

GPU_PROBE = """
import json
import torch
info = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
if info["cuda"]:
    free, total = torch.cuda.mem_get_info()
    info.update(name=torch.cuda.get_device_name(0), free_mb=free // 2**20, total_mb=total // 2**20)
print(json.dumps(info))
"""


def read_camera(target: int | str, timeout: float) -> tuple[int, str]:
    """Open a camera or video and read a few frames in a thread; return (frames read, error)."""
    result = {"frames": 0, "error": f"no frame within {timeout:.0f} s"}

    def read() -> None:
        import cv2

        capture = cv2.VideoCapture(target)
        try:
            if not capture.isOpened():
                result["error"] = "cannot be opened"
                return
            for _ in range(3):
                ok, frame = capture.read()
                if not ok or frame is None:
                    result["error"] = "opened but gives no frames"
                    return
                result["frames"] += 1
            result["error"] = ""
        finally:
            capture.release()

    # A camera that hangs in open() keeps its thread; the doctor exits anyway.
    thread = threading.Thread(target=read, name="doctor-camera", daemon=True)
    thread.start()
    thread.join(timeout)
    return result["frames"], result["error"]


def format_table(findings: list[Finding], texts: Texts) -> str:
    """Return the findings as a fixed-width table, each fix on its own line below its row."""
    rows = [finding.row(texts) for finding in findings]
    headers = (texts("doctor.column_check"), texts("doctor.column_state"), texts("doctor.column_detail"))
    width_check = max(len(r[0]) for r in rows + [headers])
    width_state = max(len(r[1]) for r in rows + [headers])
    lines = [f"{headers[0]:<{width_check}}  {headers[1]:<{width_state}}  {headers[2]}"]
    lines.append("-" * len(lines[0]))
    for check, state, detail, fix in rows:
        lines.append(f"{check:<{width_check}}  {state:<{width_state}}  {detail}")
        if fix:
            lines.append(f"{'':<{width_check}}  {'':<{width_state}}  -> {fix}")
    return "\n".join(lines)
