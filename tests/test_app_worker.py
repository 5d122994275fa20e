"""The kiosk with the real worker process: the visitor's button, and the demo's first children."""

import time

import pygame
import pytest

from installation.app import App
from installation.cli.run_command import seed_demo
from installation.config import load_settings
from installation.texts import Texts
from tests.conftest import painting_paths

SIZE = (160, 90)
OVERRIDES = ["display.fullscreen=false", "display.hold_s=0.5", "display.morph_s=0.5",
             "display.morph_frames=4", "display.refresh_s=0.5", "display.demo_children=2",
             "networks.network=patches", "networks.output_side=48", "networks.patch_coarsest_side=16",
             "networks.patch_iterations=1", "networks.patch_coarsest_iterations=2"]


@pytest.fixture
def settings():
    return load_settings(overrides=OVERRIDES)


def step_until(app, condition, seconds=120.0):
    """Step frames until `condition()` is true or `seconds` pass; frames are not timed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        app.step()
    return condition()


class Watch:
    """A record of the previews and morph requests that reach the app, frame by frame."""

    def __init__(self, app):
        self.previews = 0
        self.morph_requests = []
        scene = app.scenes["generating"]
        original_progress, original_request = scene.progress, app.morphs.request

        def progress(fraction, preview, now):
            self.previews += preview is not None
            original_progress(fraction, preview, now)

        def request(node_a, node_b, urgent=False):
            self.morph_requests.append((node_a, node_b))
            original_request(node_a, node_b, urgent)

        scene.progress = progress
        app.morphs.request = request


@pytest.fixture(scope="module")
def visitor_run(tmp_path_factory):
    from installation.archive import Archive

    archive = Archive(tmp_path_factory.mktemp("visitor") / "archive")
    painting = archive.import_photo(painting_paths()[0])
    app = App(load_settings(overrides=OVERRIDES), archive.folder, size=SIZE)
    app.start()
    try:
        watch = Watch(app)
        assert step_until(app, lambda: app.node_id is not None and app.worker.state == "idle")
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0))
        app.step()
        scene_after_press = app.scene.name
        done = step_until(app, lambda: app.scenes["generating"].state in ("morph", "hold", "failed")
                          or app.scene.name == "walk" and app.visitor_made)
        yield {"app": app, "watch": watch, "painting": painting, "scene": scene_after_press,
               "done": done, "archive": archive}
    finally:
        app.stop()
        archive.close()


def test_button_shows_generating_scene_next_frame(visitor_run):
    assert visitor_run["scene"] == "generating"


def test_button_gets_progress_previews(visitor_run):
    assert visitor_run["watch"].previews > 0


def test_button_stores_child_of_painting(visitor_run):
    children = visitor_run["archive"].children(visitor_run["painting"].id)
    assert len(children) == 1


def test_button_starts_morph_to_child(visitor_run):
    child = visitor_run["archive"].children(visitor_run["painting"].id)[0]
    assert (visitor_run["painting"].id, child.id) in visitor_run["watch"].morph_requests


def test_empty_archive_gets_demo_children(settings, archive):
    seed_demo(archive, Texts("en"))
    app = App(settings, archive.folder, size=SIZE)
    app.start()
    try:
        step_until(app, lambda: app.genealogy is not None and len(app.genealogy) >= 3, seconds=180)
    finally:
        app.stop()
    demo = archive.nodes()[0]
    assert len(archive.children(demo.id)) == 2
