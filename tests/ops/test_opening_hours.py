"""Opening hours in the real kiosk loop: blank while closed, training held until closing."""

import datetime as dt

import pytest

from installation.app import App
from installation.config import load_settings
from installation.schedule import ClosedScreen, OpeningWatch, Schedule

SIZE = (96, 54)
MONDAY_NOON = dt.datetime(2026, 12, 7, 12, 0)
MONDAY_NIGHT = dt.datetime(2026, 12, 7, 22, 0)


class RecordingWorker:
    """Stands in for the worker process: records submitted jobs, returns no events."""

    queue_length = 0

    def __init__(self):
        self.jobs = []

    def start(self):
        pass

    def stop(self, timeout=5.0):
        pass

    def submit(self, job):
        self.jobs.append(job)
        return f"job-{len(self.jobs)}"

    def poll(self):
        return []


@pytest.fixture
def clock():
    return {"now": MONDAY_NOON}


@pytest.fixture
def app(archive, paintings, clock):
    archive.import_photo(paintings[0])
    settings = load_settings(overrides=["display.fullscreen=false", "schedule.enabled=true",
                                        "schedule.train_when_closed=true"])
    kiosk = App(settings, archive.folder, size=SIZE, use_worker=False)
    kiosk.opening = OpeningWatch(Schedule(settings.schedule), interval=0.0, clock=lambda: clock["now"])
    kiosk.closed_screen = ClosedScreen(None)
    kiosk.start()
    kiosk.worker = RecordingWorker()
    yield kiosk
    kiosk.stop()


def test_closed_screen_is_black(app, clock):
    clock["now"] = MONDAY_NIGHT
    app.step()
    assert tuple(app.screen.get_at((48, 27)))[:3] == (0, 0, 0)


def test_closed_sets_blackout_state(app, clock):
    clock["now"] = MONDAY_NIGHT
    app.step()
    assert app.board.snapshot()[0].blackout is True


def test_training_held_while_open(app):
    from installation.commands import Train

    app.handle(Train(node_id=1, network="multiscale"))
    assert app.worker.jobs == []


def test_training_starts_at_closing(app, clock):
    from installation.commands import Train

    app.step()
    app.handle(Train(node_id=1, network="multiscale"))
    clock["now"] = MONDAY_NIGHT
    app.step()
    assert [(job.kind, job.params["node_id"]) for job in app.worker.jobs] == [("train", 1)]
