"""Plugging the camera into the kiosk: the feed, the capture session and the live replies.

The feed's thread finds the canvas and stores settled pictures; the display
loop (an `app.on_frame` hook) collects what was stored, refreshes the
genealogy, and asks the worker for a child answering each live painting state.
"""

from __future__ import annotations

import logging

from installation.archive import Archive
from installation.capture.camera import CameraFeed
from installation.capture.session import CaptureSession

log = logging.getLogger(__name__)


def attach_camera(app) -> CameraFeed:
    """Add the camera feed to `app.services` and `app.camera`, with a capture session behind it."""
    settings = app.settings
    answers: list[tuple[int, int]] = []  # (node id, state id), appended by the feed's thread

    def disk_nearly_full() -> bool:
        guard = getattr(app, "disk_guard", None)
        return guard is not None and guard.paused

    session = CaptureSession(
        settings.capture, lambda: Archive(app.archive_dir, settings.archive),
        author=settings.general.artist, answer=lambda node_id, state_id: answers.append((node_id, state_id)),
        base=settings.source.parent,
        paused=disk_nearly_full)
    feed = CameraFeed(settings.capture, app.board, base=settings.source.parent, session=session)

    def collect(now: float) -> None:
        stored = False
        while not session.results.empty():
            result = session.results.get_nowait()
            stored = stored or result.outcome in ("stored", "state")
            if result.outcome == "duplicate":
                log.info("capture not stored: %s", result.reason)
            elif result.outcome == "paused":
                app.disk_paused()  # shows why on screen
        while answers:
            node_id, state_id = answers.pop(0)
            _request_answer(app, node_id, state_id)
        if stored and getattr(app, "loader", None) is not None:
            app.loader.request("nodes")

    app.camera = feed
    app.services.append(feed)
    app.on_frame.append(collect)
    return feed


def _request_answer(app, node_id: int, state_id: int) -> None:
    if app.worker is None:
        log.warning("live painting state %d of node %d not answered: no worker", state_id, node_id)
        return
    from installation.jobs import Job, Priority

    # The job starts from the state's own picture and records its child as the state's answer.
    params = {"node_id": node_id, "count": 1, "network": app.settings.capture.live_network,
              "seed": None, "state_id": state_id}
    job_id = app.worker.submit(Job("generate", params, Priority.ARTIST))
    log.info("answer to live painting state %d of node %d requested (job %s)", state_id, node_id, job_id)
