"""Subcommands of the camera: `detect`, `capture` and `calibrate`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from installation.texts import TwowayError

log = logging.getLogger(__name__)


def register(subparsers, common) -> None:
    command = subparsers.add_parser(
        "detect", parents=[common], help="find a canvas in a photo and print its corners",
        description="Find the canvas in a photo and print its four corners in pixels, clockwise "
                    "from the top-left one, and the confidence (0 to 1). Exit status 1 when no "
                    "canvas is found with capture.min_confidence.")
    command.add_argument("photo", type=Path, metavar="PHOTO", help="image file")
    command.add_argument("--json", action="store_true",
                         help="print one JSON object: corners, confidence, width, height")
    command.set_defaults(handler=detect_photo)

    command = subparsers.add_parser(
        "capture", parents=[common], help="photograph the canvas and store it as a new painting",
        description="Wait until the canvas is found and has been still for capture.still_seconds, "
                    "then store it, rectified, as a new painting. A picture of the same painting "
                    "as the last capture is not stored again.")
    command.add_argument("--parent", type=int, default=None, metavar="ID",
                         help="image this painting was painted from (default: the newest chosen "
                              "machine image, if any)")
    command.add_argument("--from", dest="source", type=Path, default=None, metavar="FILE",
                         help="a photo or a video file to take the picture from, instead of the camera")
    command.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                         help="how long to wait for a settled canvas, in seconds (default 60)")
    command.set_defaults(handler=capture_painting)

    command = subparsers.add_parser(
        "calibrate", parents=[common], help="fix the canvas corners in the settings file",
        description="Show the camera with the canvas corners; drag them and press Enter to save "
                    "them as capture.corners in the settings file. Without a screen, give the "
                    "corners with --corners.")
    command.add_argument("--corners", default=None, metavar="X1,Y1,...,X4,Y4",
                         help="the four corners in frame pixels, any order; saved without a screen")
    command.add_argument("--clear", action="store_true",
                         help="remove the fixed corners, so the canvas is detected again")
    command.add_argument("--from", dest="source", type=Path, default=None, metavar="FILE",
                         help="a photo to show instead of the camera")
    command.set_defaults(handler=calibrate_corners)


# --- detect --------------------------------------------------------------------------


def detect_photo(args: argparse.Namespace, context) -> int:
    from installation.capture.canvas import detect_canvas
    from installation.photo import read_photo

    settings = context.settings
    photo = read_photo(args.photo, settings.archive.max_import_pixels, 1_000_000)
    frame = np.asarray(photo.image)
    detection = detect_canvas(frame, settings.capture.detect_side)
    accepted = detection.found and detection.confidence >= settings.capture.min_confidence
    if args.json:
        print(json.dumps({
            "found": accepted,
            "corners": [[round(float(x), 2), round(float(y), 2)] for x, y in detection.corners]
            if detection.found else None,
            "confidence": round(detection.confidence, 4),
            "width": frame.shape[1], "height": frame.shape[0],
            "reason": "" if accepted else detection.reason or "confidence below capture.min_confidence",
        }))
    elif accepted:
        context.say("capture.detected", path=args.photo, confidence=detection.confidence,
                    corners=_format_corners(detection.corners))
    if accepted:
        return 0
    if not detection.found:
        error = TwowayError("capture.no_canvas", path=args.photo, reason=detection.reason)
    else:
        error = TwowayError("capture.low_confidence", path=args.photo, confidence=detection.confidence,
                            minimum=settings.capture.min_confidence)
    print(error.message(context.texts), file=sys.stderr)
    return 1


def _format_corners(corners: np.ndarray) -> str:
    return ", ".join(f"({x:.1f}, {y:.1f})" for x, y in corners)


# --- capture -------------------------------------------------------------------------


def capture_painting(args: argparse.Namespace, context) -> int:
    import dataclasses

    from installation.archive import Archive
    from installation.capture.camera import CameraFeed
    from installation.capture.session import CaptureSession

    settings = context.settings
    capture = settings.capture
    if args.source is not None and args.source.suffix.lower() not in (".avi", ".mp4", ".mkv", ".mov", ".webm"):
        return _capture_photo(args, context)
    if args.source is not None:
        capture = dataclasses.replace(capture, source="video", video_path=str(args.source.resolve()))
    if capture.source == "none":
        raise TwowayError("capture.no_source")

    session = CaptureSession(capture, lambda: Archive(settings.archive_dir(), settings.archive),
                             author=settings.general.artist, base=settings.source.parent)
    session.auto = False
    session.request_capture(args.parent)
    feed = CameraFeed(capture, base=settings.source.parent, session=session)
    context.say("capture.waiting", seconds=args.timeout)
    feed.start()
    try:
        result = session.results.get(timeout=args.timeout)
    except Exception:  # queue.Empty: nothing settled in time
        result = None
    finally:
        state = feed.state
        feed.stop()
    if result is None:
        raise TwowayError("capture.timed_out", seconds=args.timeout, state=state)
    return _report(result, context)


def _capture_photo(args: argparse.Namespace, context) -> int:
    from installation.capture.session import CaptureResult, CaptureSession, rectify_photo_file

    settings = context.settings
    photo, provenance = rectify_photo_file(args.source, settings.capture, settings.archive.max_import_pixels,
                                           settings.archive.max_stored_side)
    session = CaptureSession(settings.capture, lambda: context.archive)
    parents = session._parents(args.parent)
    node = context.archive.add_painting(photo, parents=parents, title=args.source.stem,
                                        author=settings.general.artist, source_name=args.source.name,
                                        capture=provenance)
    return _report(CaptureResult("stored", node_id=node.id), context)


def _report(result, context) -> int:
    if result.outcome == "stored":
        context.say("capture.stored", node_id=result.node_id)
        return 0
    if result.outcome == "state":
        context.say("capture.state_stored", node_id=result.node_id, state=result.state_id)
        return 0
    if result.outcome == "duplicate":
        context.say("capture.duplicate")
        return 0
    print(context.texts("capture.failed", reason=result.reason), file=sys.stderr)
    return 1


# --- calibrate -----------------------------------------------------------------------


def calibrate_corners(args: argparse.Namespace, context) -> int:
    path = context.settings.source
    if args.clear:
        write_corners(path, ())
        context.say("capture.corners_cleared", path=path)
        return 0
    if args.corners is not None:
        corners = parse_corners(args.corners)
    else:
        corners = _calibrate_on_screen(args, context)
        if corners is None:
            return 1
    values = tuple(round(float(v), 1) for v in corners.ravel())
    write_corners(path, values)
    context.say("capture.corners_saved", corners=_format_corners(corners), path=path)
    return 0


def parse_corners(text: str) -> np.ndarray:
    """Parse "x1,y1,...,x4,y4" into 4x2 corners clockwise from the top-left."""
    from installation.capture.rectify import order_corners

    try:
        values = [float(part) for part in re.split(r"[,\s]+", text.strip()) if part]
    except ValueError:
        values = []
    if len(values) != 8 or not all(np.isfinite(values)):
        raise TwowayError("capture.bad_corners", value=text)
    return order_corners(np.array(values, np.float32).reshape(4, 2))


def write_corners(path: Path, values: tuple[float, ...]) -> None:
    """Set `corners` in the [capture] section of a settings file, keeping every other line."""
    from installation.archive import write_atomic

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TwowayError("capture.settings_unwritable", path=path, reason=error.strerror)
    line = "corners = [" + ", ".join(f"{v:g}" for v in values) + "]"
    section = re.search(r"^\[capture\][ \t]*$", text, re.MULTILINE)
    if section is None:
        text = text.rstrip("\n") + "\n\n[capture]\n" + line + "\n"
    else:
        following = re.search(r"^\[", text[section.end():], re.MULTILINE)
        end = section.end() + following.start() if following else len(text)
        body = text[section.end():end]
        if re.search(r"^corners[ \t]*=.*$", body, re.MULTILINE):
            body = re.sub(r"^corners[ \t]*=.*$", line, body, count=1, flags=re.MULTILINE)
        else:
            body = "\n" + line + body
        text = text[:section.end()] + body + text[end:]
    write_atomic(path, text.encode("utf-8"))
    log.info("capture.corners set to %s in %s", list(values), path)


def _calibrate_on_screen(args: argparse.Namespace, context):
    """Show a frame with draggable corners; return them on Enter, None on Escape."""
    reason = _no_display_reason()
    if reason:
        raise TwowayError("capture.no_display", reason=reason)
    frame = _one_frame(args, context)
    from installation.capture.calibrate_view import edit_corners

    return edit_corners(frame, context.settings.capture, context.texts)


def _no_display_reason() -> str:
    driver = os.environ.get("SDL_VIDEODRIVER", "")
    if driver in ("dummy", "offscreen"):
        return f"SDL_VIDEODRIVER={driver}"
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or driver == "kmsdrm"):
        return "neither DISPLAY nor WAYLAND_DISPLAY is set"
    return ""


def _one_frame(args: argparse.Namespace, context) -> np.ndarray:
    from installation.capture.camera import CameraFeed
    from installation.photo import read_photo

    settings = context.settings
    if args.source is not None:
        return np.asarray(read_photo(args.source, settings.archive.max_import_pixels, 1_000_000).image)
    if settings.capture.source == "none":
        raise TwowayError("capture.no_source")
    feed = CameraFeed(settings.capture, base=settings.source.parent)
    feed.start()
    try:
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            frame, _, _ = feed.latest()
            if frame is not None:
                return frame
            time.sleep(0.1)
        raise TwowayError("capture.no_frame", seconds=15, state=feed.state)
    finally:
        feed.stop()
