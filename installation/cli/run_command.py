"""`twoway run`: the kiosk."""

from __future__ import annotations

import argparse
import dataclasses
import logging

from installation.config import DisplaySettings, VisitorSettings
from installation.logs import configure_logging

log = logging.getLogger(__name__)


def keys_help() -> str:
    """Describe the kiosk's keys with their default names, for `twoway run --help`."""
    display, visitor = DisplaySettings(), VisitorSettings()
    rows = [
        (visitor.button_key, "visitor button: make a child of the image on screen (visitor.button_key)"),
        (display.key_next, "next image (display.key_next)"),
        (display.key_previous, "previous image (display.key_previous)"),
        (display.key_walk, "genealogy walk scene (display.key_walk)"),
        (display.key_tree, "family tree scene (display.key_tree)"),
        (display.key_live, "live camera scene (display.key_live)"),
        (display.key_status, "status overlay on or off (display.key_status)"),
        (display.key_pause, "pause or resume the walk (display.key_pause)"),
        (f"ctrl+{display.key_quit}", "quit; the key alone does nothing (display.key_quit)"),
    ]
    lines = ["keys (defaults; change them in config.toml):"]
    lines += [f"  {key:<10} {meaning}" for key, meaning in rows]
    return "\n".join(lines)


def register(subparsers, common) -> None:
    command = subparsers.add_parser(
        "run", parents=[common], help="start the installation (the kiosk display)",
        description="Open the kiosk display on the genealogy in the archive. An empty archive "
                    "gets the demo painting and a few children of it.",
        epilog=keys_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_argument("--windowed", action="store_true",
                         help="open a window of display.window_width x display.window_height pixels "
                              "instead of filling the screen (sets display.fullscreen=false)")
    command.add_argument("--frames", type=int, default=None, metavar="N",
                         help="stop after N frames (default: run until quit); for tests")
    command.set_defaults(handler=run_kiosk)


def seed_demo(archive, texts) -> int | None:
    """Add the demo painting when the archive is empty; return its id, or None."""
    if archive.count():
        return None
    from installation.demo import demo_photo

    node = archive.add_painting(demo_photo(), title=texts("demo.title"), author=texts("demo.author"),
                                source_name="demo", demo=True)
    log.info("archive was empty: seeded demo painting as node %d", node.id)
    return node.id


def run_kiosk(args: argparse.Namespace, context) -> int:
    settings = context.settings
    if args.windowed:
        settings = dataclasses.replace(settings, display=dataclasses.replace(settings.display, fullscreen=False))
    configure_logging(settings.general.log_level)
    log.info("starting; settings from %s:\n%s", settings.source, settings.describe())
    node_id = seed_demo(context.archive, context.texts)
    if node_id is not None:
        context.say("cli.demo_seeded", node_id=node_id)

    import os

    from installation.app import App
    from installation.operations import run_kiosk_app

    app = App(settings, settings.archive_dir())
    app.frame_limit = args.frames
    add_services(app)
    # Operations add the watchdog, disk guard, opening hours and signal handlers.
    return run_kiosk_app(app, os.environ)


def add_services(app) -> None:
    """Plug the OSC server and the camera feed into the app, where those parts are installed."""
    settings = app.settings
    if settings.osc.enabled:
        try:
            from installation.osc import OscServer
        except ImportError as error:
            log.warning("OSC server not available: %s", error)
        else:
            app.services.append(OscServer(settings.osc, app.bus, app.board, has_node=app.has_node))
    if settings.capture.source != "none":
        try:
            from installation.capture.kiosk import attach_camera
        except ImportError as error:
            log.warning("camera feed not available: %s", error)
        else:
            attach_camera(app)
