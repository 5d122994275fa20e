"""The kiosk's shared state: what is on screen and how each part is doing.

The display loop and the capture and worker parts write to a `StateBoard`;
the OSC feedback and the status overlay read snapshots of it. Every change
bumps a version number, so a reader can ask only for what changed since its
last look.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class KioskState:
    node_id: int = 0
    node_title: str = ""
    node_generation: int = 0
    node_kind: str = ""  # "painting" or "machine"
    scene: str = "walk"
    worker: str = "starting"  # "starting", "idle", "busy", "restarting", "failed"
    progress: float = 0.0  # 0 to 1, of the running job
    queue: int = 0  # jobs waiting in the worker
    camera: str = "none"  # "none", "opening", "ok", "lost", "frozen"
    paused: bool = False
    blackout: bool = False
    language: str = "es"
    fps: float = 0.0
    last_error: str = ""


class StateBoard:
    """A thread-safe holder of the current `KioskState` with a change counter."""

    def __init__(self, initial: KioskState | None = None):
        self._lock = threading.Lock()
        self._state = initial or KioskState()
        self._version = 0
        self._changed_at: dict[str, int] = {f.name: 0 for f in dataclasses.fields(KioskState)}

    def update(self, **changes) -> None:
        """Set some fields; unknown names raise TypeError, unchanged values are ignored."""
        with self._lock:
            current = self._state
            real = {k: v for k, v in changes.items() if getattr(current, k) != v}
            if not real:
                return
            self._state = dataclasses.replace(current, **real)
            self._version += 1
            for name in real:
                self._changed_at[name] = self._version

    def snapshot(self) -> tuple[KioskState, int]:
        """Return the current state and its version."""
        with self._lock:
            return self._state, self._version

    def changes_since(self, version: int) -> tuple[dict, int]:
        """Return the fields changed after `version` and the current version."""
        with self._lock:
            changed = {name: getattr(self._state, name)
                       for name, at in self._changed_at.items() if at > version}
            return changed, self._version
