"""The OSC server plugged into the real kiosk App, headless: commands reach the loop, state comes back."""

import pytest

from installation.app import App
from installation.cli.run_command import add_services
from installation.config import load_settings
from installation.demo import demo_photo
from installation.osc import OscServer
from installation.osc.client import OscClient

ROOT = "/twoway"


@pytest.fixture
def kiosk(archive):
    settings = load_settings(overrides=["display.fullscreen=false", "osc.host=127.0.0.1", "osc.port=0",
                                        "osc.feedback_interval_s=0.02", "capture.source=none"])
    archive.add_painting(demo_photo(160, 120), title="Demo", demo=True)
    app = App(settings, archive.folder, size=(160, 90), use_worker=False)
    add_services(app)
    app.start()
    yield app
    app.stop()


def osc_server(app) -> OscServer:
    (server,) = [service for service in app.services if isinstance(service, OscServer)]
    return server


def step_until(app, condition, max_frames=300):
    for _ in range(max_frames):
        if condition():
            return True
        app.step()
    return condition()


def test_kiosk_runs_osc_server(kiosk):
    assert osc_server(kiosk).port > 0


def test_scene_command_changes_kiosk_scene(kiosk):
    with OscClient("127.0.0.1", osc_server(kiosk).port) as client:
        client.send(f"{ROOT}/scene", "tree")
        assert step_until(kiosk, lambda: kiosk.board.snapshot()[0].scene == "tree")


def test_registered_client_gets_kiosk_node(kiosk):
    with OscClient("127.0.0.1", osc_server(kiosk).port) as client:
        client.send(f"{ROOT}/hello")
        assert client.receive_until(f"{ROOT}/state/scene") == ["walk"]
        assert step_until(kiosk, lambda: kiosk.board.snapshot()[0].node_id != 0)
        assert client.receive_until(f"{ROOT}/state/node_title") == ["Demo"]


def test_pause_feedback_from_kiosk(kiosk):
    with OscClient("127.0.0.1", osc_server(kiosk).port) as client:
        client.send(f"{ROOT}/hello")
        assert client.receive_until(f"{ROOT}/state/paused") == [0]
        client.send(f"{ROOT}/pause", 1)
        assert step_until(kiosk, lambda: kiosk.board.snapshot()[0].paused)
        assert client.receive_until(f"{ROOT}/state/paused") == [1]


def test_command_naming_missing_image_gets_error(kiosk):
    assert step_until(kiosk, lambda: kiosk.genealogy is not None)
    with OscClient("127.0.0.1", osc_server(kiosk).port) as client:
        client.send(f"{ROOT}/select", 999)
        reply = client.receive_until(f"{ROOT}/error")
    assert reply is not None
    assert "no image 999" in reply[0]
