"""Scenes rendered headless: letterboxing, captions in both languages, the button's reaction."""

import time

import numpy as np
import pygame
import pytest
from PIL import Image

from installation.app import App
from installation.cli.screenshot_command import render_scene
from installation.commands import Language
from installation.config import load_settings

SIZE = (480, 270)
BACKGROUND = (12, 12, 12)


@pytest.fixture
def settings():
    return load_settings(overrides=["display.fullscreen=false", "display.morph_frames=4"])


def start_app(settings, archive, worker=None):
    app = App(settings, archive.folder, size=SIZE, use_worker=False)
    app.worker = worker
    app.start()
    return app


def screen_pixels(app) -> np.ndarray:
    return pygame.surfarray.array3d(app.screen).transpose(1, 0, 2)  # H x W x 3


def picture_box(pixels: np.ndarray, rows: slice) -> tuple[int, int, int, int]:
    """Return left, top, right, bottom (exclusive) of what differs from the background."""
    differs = np.any(np.abs(pixels[rows].astype(int) - BACKGROUND) > 12, axis=2)
    ys, xs = np.nonzero(differs)
    return xs.min(), ys.min() + (rows.start or 0), xs.max() + 1, ys.max() + 1 + (rows.start or 0)


def painting_with_shape(paintings, portrait: bool):
    for path in paintings:
        with Image.open(path) as image:
            if (image.height > image.width) == portrait:
                return path, image.size
    pytest.fail(f"no {'portrait' if portrait else 'landscape'} painting among the test paintings")


@pytest.mark.parametrize("portrait", [True, False], ids=["portrait", "landscape"])
def test_painting_letterboxed_not_stretched(settings, archive, paintings, portrait):
    settings = load_settings(overrides=["display.fullscreen=false", "display.captions=false"])
    path, (width, height) = painting_with_shape(paintings, portrait)
    node = archive.import_photo(path)
    app = start_app(settings, archive)
    try:
        render_scene(app, "walk", node.id, timeout=30)
        left, top, right, bottom = picture_box(screen_pixels(app), slice(0, SIZE[1]))
    finally:
        app.stop()
    shown_ratio = (right - left) / (bottom - top)
    assert abs(shown_ratio - width / height) < 0.03
    assert (right - left == SIZE[0]) or (bottom - top == SIZE[1])
    assert abs((left + right) / 2 - SIZE[0] / 2) <= 1
    assert abs((top + bottom) / 2 - SIZE[1] / 2) <= 1


@pytest.mark.parametrize("language", ["es", "en"])
def test_caption_renders_in_language(settings, archive, paintings, language):
    node = archive.import_photo(paintings[0], title="Prueba")
    app = start_app(settings, archive)
    try:
        app.handle(Language(language))
        render_scene(app, "walk", node.id, timeout=30)
        captioned = screen_pixels(app)
        panel = app.captions.panel(app.genealogy.node(node.id))
    finally:
        app.stop()
    assert app.captions.languages[0] == language
    assert panel.get_width() > 100
    # The caption panel darkens the bottom of the picture.
    assert captioned[-5:, SIZE[0] // 2].mean() < 200


def test_captions_differ_between_languages(settings, archive, paintings):
    node = archive.import_photo(paintings[0])
    pictures = {}
    for language in ("es", "en"):
        settings_one = load_settings(overrides=["display.fullscreen=false", f"general.language={language}",
                                                'general.second_language=""'])
        app = start_app(settings_one, archive)
        try:
            render_scene(app, "walk", node.id, timeout=30)
            pictures[language] = screen_pixels(app)
        finally:
            app.stop()
    assert not np.array_equal(pictures["es"], pictures["en"])


class RecordingWorker:
    """Stands in for the worker process: records jobs and sends no events."""

    state = "idle"
    queue_length = 0

    def __init__(self):
        self.jobs = []

    def start(self):
        pass

    def stop(self, timeout=5.0):
        pass

    def submit(self, job):
        self.jobs.append(job)
        return job.id

    def cancel(self, job_id):
        pass

    def poll(self):
        return []


def test_button_reacts_in_next_frame(settings, archive, paintings):
    node = archive.import_photo(paintings[0])
    worker = RecordingWorker()
    app = start_app(settings, archive, worker=worker)
    try:
        render_scene(app, "walk", node.id, timeout=30)
        app.paused = False
        app.step()
        before = screen_pixels(app)
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0))
        app.step()
        after = screen_pixels(app)
    finally:
        app.stop()
    changed = np.any(before != after, axis=2).mean()
    assert changed > 0.05
    assert app.scene.name == "generating"
    assert [job.kind for job in worker.jobs] == ["generate"]
    assert worker.jobs[0].params["node_id"] == node.id


def test_presses_queue_at_most_one_more(settings, archive, paintings):
    node = archive.import_photo(paintings[0])
    worker = RecordingWorker()
    app = start_app(settings, archive, worker=worker)
    try:
        render_scene(app, "walk", node.id, timeout=30)
        for _ in range(4):
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0))
            app.step()
        waiting = app._visitor_waiting
    finally:
        app.stop()
    assert len(worker.jobs) == 1
    assert waiting is not None


def test_caption_panels_kept_are_bounded():
    from types import SimpleNamespace

    from installation.display.captions import CACHED_PANELS, Captions

    pygame.font.init()
    captions = Captions((320, 180), 20, ("es", "en"))
    nodes = [SimpleNamespace(id=number, title=f"t{number}", kind="machine", generation=1, network="patches",
                             created_at="2026-12-05T00:00:00+00:00", author="", provenance={})
             for number in range(1, CACHED_PANELS + 6)]
    for node in nodes:
        captions.panel(node)
    first = captions.panel(nodes[-1])
    assert len(captions._cache) == CACHED_PANELS
    assert captions.panel(nodes[-1]) is first


def fill_ring(app, job, colour) -> None:
    """Write every frame of a recorded morph job into the display's frame ring, as the worker would."""
    for index in range(job.params["frames"]):
        frame = np.full((SIZE[1], SIZE[0], 3), colour, np.uint8)
        assert app.morphs.ring.write(job.params["token"], index, frame, timeout=5.0)


def step_until(app, condition, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        app.step()
    return condition()


def test_held_machine_image_breathes(archive, paintings):
    settings = load_settings(overrides=["display.fullscreen=false", "display.morph_frames=4", "display.hold_s=60",
                                        "display.morph_s=0.5", "display.transition_s=0.05"])
    painting = archive.import_photo(paintings[0])
    with Image.open(paintings[1]) as image:
        machine = archive.add_machine_image(image.convert("RGB"), [painting.id], "multiscale", "1", seed=1,
                                            latent=b"a latent the display does not read")
    worker = RecordingWorker()
    app = start_app(settings, archive, worker=worker)
    try:
        render_scene(app, "walk", machine.id, timeout=30)
        morphs = [job for job in worker.jobs if job.kind == "morph"]
        upcoming = morphs[-1]
        assert (upcoming.params["node_a"], upcoming.params["node_b"]) == (machine.id, painting.id)
        assert not any(job.params["breathe"] for job in morphs)

        # Once the next morph is rendered, the held image's breathing is requested.
        fill_ring(app, upcoming, (0, 0, 200))
        assert step_until(app, lambda: worker.jobs[-1] is not upcoming)
        breath = worker.jobs[-1]
        assert (breath.params["node_a"], breath.params["node_b"], breath.params["breathe"]) == (
            machine.id, machine.id, True)

        fill_ring(app, breath, (200, 30, 30))
        assert step_until(app, lambda: app.morphs.is_complete((machine.id, machine.id)))
        app.paused = False
        walk = app.scenes["walk"]
        assert step_until(app, lambda: walk.breath_position() > 0.3)
        app.step()
        centre = screen_pixels(app)[SIZE[1] // 2, SIZE[0] // 2]
    finally:
        app.stop()
    assert tuple(centre) == (200, 30, 30)


def test_painting_does_not_breathe(settings, archive, paintings):
    node = archive.import_photo(paintings[0])
    worker = RecordingWorker()
    app = start_app(settings, archive, worker=worker)
    try:
        render_scene(app, "walk", node.id, timeout=30)
        for _ in range(5):
            app.step()
        breathes = app.scenes["walk"].breathes(node.id)
    finally:
        app.stop()
    assert not breathes
    assert not [job for job in worker.jobs if job.kind == "morph" and job.params["breathe"]]
