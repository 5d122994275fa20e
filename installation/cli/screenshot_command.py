"""`twoway screenshot`: render one scene of the kiosk to a PNG, without a screen."""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

SCENES = ("walk", "tree", "live", "generating", "status")


def register(subparsers, common) -> None:
    command = subparsers.add_parser(
        "screenshot", parents=[common], help="render a scene of the kiosk to a PNG file, without a screen",
        description="Render one scene as the kiosk would show it and save it as PNG, for the docs "
                    "and for tests. Runs headless; the archive is only read.")
    command.add_argument("scene", choices=SCENES, help="scene to render ('status' is the walk with the status overlay)")
    command.add_argument("output", type=Path, metavar="OUT.png", help="PNG file to write")
    command.add_argument("--node", type=int, default=None, metavar="ID",
                         help="image number to show (default: the first painting)")
    command.add_argument("--size", type=_parse_size, default="1920x1080", metavar="WxH",
                         help="picture size in pixels (default 1920x1080)")
    command.add_argument("--language", choices=("es", "en"), default=None,
                         help="primary caption language (default: general.language)")
    command.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                         help="maximum wait for images to load, in seconds (default 30)")
    command.set_defaults(handler=take_screenshot)


def take_screenshot(args: argparse.Namespace, context) -> int:
    size = args.size
    # Headless unless a display driver was chosen on purpose.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    import pygame

    from installation.app import App
    from installation.commands import Language

    if args.node is not None:
        context.archive.node(args.node)  # raises errors.node_not_found
    app = App(context.settings, context.settings.archive_dir(), size=size, use_worker=False)
    app.start()
    try:
        if args.language:
            app.handle(Language(args.language))
        render_scene(app, args.scene, args.node, args.timeout)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(app.screen, str(args.output))
    finally:
        app.stop()
    context.say("display.screenshot_saved", scene=args.scene, path=args.output)
    return 0


def _parse_size(text: str) -> tuple[int, int]:
    width, separator, height = text.lower().partition("x")
    if not separator or not width.isdigit() or not height.isdigit() or int(width) < 16 or int(height) < 16:
        raise argparse.ArgumentTypeError(f"--size {text!r}: expected WIDTHxHEIGHT in pixels, such as 1920x1080")
    return int(width), int(height)


def render_scene(app, scene: str, node_id: int | None, timeout: float = 30.0) -> None:
    """Bring `app` to `scene` showing `node_id` (default the first painting) and draw it fully loaded.

    The walk is paused on the node with its caption shown; frames run until the
    scene's images are loaded or `timeout` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while app.genealogy is None and time.monotonic() < deadline:
        app.step()
    if app.genealogy is None:
        log.warning("the archive did not load within %.0f s", timeout)
        return
    node_id = node_id if node_id is not None else app.genealogy.root
    app.paused = True
    app.show_node(node_id)
    walk = app.scenes["walk"]
    walk.phase, walk.target = "hold", None
    walk.phase_start = walk.clock - app.settings.display.transition_s
    if scene == "generating":
        app.scenes["generating"].begin(node_id, app.now)
    app.show_status = scene == "status"
    app.show_scene("walk" if scene == "status" else scene, fade=False)

    frames = 0
    while time.monotonic() < deadline:
        app.step()
        frames += 1
        if frames >= 3 and _loaded(app, scene, node_id):
            break
    app.step()  # one more frame, drawn with everything in place


def _loaded(app, scene: str, node_id: int | None) -> bool:
    if node_id is not None and node_id not in app.stills.failed and app.stills.get(node_id) is None:
        return False
    if scene == "tree":
        return not app.loader.has_pending("thumbnail")
    return True
