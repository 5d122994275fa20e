"""The kiosk loop, headless: frames run, keys become commands, no torch in the display."""

import subprocess
import sys
import textwrap

import pygame
import pytest

from installation.app import App
from installation.config import load_settings
from installation.demo import demo_photo

SIZE = (320, 180)


@pytest.fixture
def settings():
    return load_settings(overrides=["display.fullscreen=false", "display.hold_s=0.5", "display.morph_s=0.5",
                                    "display.morph_frames=4", "display.refresh_s=0.5"])


@pytest.fixture
def app(settings, archive, paintings):
    demo = archive.add_painting(demo_photo(160, 120), title="Demo", demo=True)
    archive.import_photo(paintings[0], parents=[demo.id])
    kiosk = App(settings, archive.folder, size=SIZE, use_worker=False)
    kiosk.start()
    yield kiosk
    kiosk.stop()


def run_until(app, condition, max_frames=600):
    for _ in range(max_frames):
        if condition():
            return True
        app.step()
    return condition()


def test_loop_shows_first_node(app):
    assert run_until(app, lambda: app.node_id is not None)
    assert app.board.snapshot()[0].node_id == app.node_id


def test_on_frame_hooks_get_frame_time(app):
    times = []
    app.on_frame.append(times.append)
    app.run(max_frames=3)
    assert len(times) == 3
    assert all(t > 0 for t in times)


def test_services_started_and_stopped(settings, archive):
    class Service:
        events = []

        def start(self):
            self.events.append("start")

        def stop(self):
            self.events.append("stop")

    kiosk = App(settings, archive.folder, size=SIZE, use_worker=False)
    kiosk.services.append(Service())
    kiosk.start()
    kiosk.run(max_frames=1)
    kiosk.stop()
    assert Service.events == ["start", "stop"]


def test_ctrl_q_quits(app):
    app.step()
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q, mod=pygame.KMOD_LCTRL))
    app.step()
    app.step()
    assert not app.running


def test_q_alone_does_not_quit(app):
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q, mod=0))
    app.step()
    app.step()
    assert app.running


def test_walk_reaches_second_node(app):
    assert run_until(app, lambda: app.node_id is not None)
    first = app.node_id
    assert run_until(app, lambda: app.node_id != first, max_frames=300)


def test_tree_key_fades_to_tree(app):
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_t, mod=0))
    app.step()
    app.step()
    assert app.scene.name == "tree"
    assert app.board.snapshot()[0].scene == "tree"


def test_display_does_not_import_torch(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from installation.app import App
        from installation.config import load_settings
        settings = load_settings(overrides=["display.fullscreen=false"])
        app = App(settings, {str(tmp_path / "archive")!r}, size=(64, 48))
        app.start()
        app.run(max_frames=2)
        app.stop()
        print("torch" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_scene_change_fades_through_background(app):
    assert run_until(app, lambda: app.stills.get(app.node_id) is not None)
    app.show_scene("tree")
    app._draw(app.now + app.settings.display.transition_s / 2)
    centre = app.screen.get_at((SIZE[0] // 2, SIZE[1] // 2))
    assert tuple(centre)[:3] == app.background
