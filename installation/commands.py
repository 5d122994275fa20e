"""The command bus: every source (keys, the visitor button, OSC) becomes typed commands
in one queue, which the display loop drains once per frame without waiting.

A command class states its access `level`: visitor commands may come from anyone
(rate-limited per sender), artist commands only from trusted sources. Sources
build commands with validated arguments; `CommandBus.submit` applies the
permission and rate checks and returns a `Verdict`, so every source is checked
the same way.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar

log = logging.getLogger(__name__)

VISITOR = "visitor"
ARTIST = "artist"


@dataclass(frozen=True)
class Source:
    """Where a command came from: `kind` is "key", "button", "osc" or "cli"."""

    kind: str
    host: str = ""
    port: int = 0

    @property
    def sender(self) -> str:
        return f"{self.kind}:{self.host}:{self.port}" if self.host else self.kind


LOCAL = Source("key")


@dataclass(frozen=True)
class Command:
    level: ClassVar[str] = ARTIST
    source: Source = field(default=LOCAL, kw_only=True, compare=False)


# --- visitor-level commands -------------------------------------------------------

@dataclass(frozen=True)
class Generate(Command):
    """Make children of the node on screen (or of `node_id`)."""

    level: ClassVar[str] = VISITOR
    count: int = 1
    network: str = ""  # "" means the instant network from the settings
    seed: int | None = None
    node_id: int | None = None


@dataclass(frozen=True)
class Next(Command):
    level: ClassVar[str] = VISITOR


# --- artist-level commands --------------------------------------------------------

@dataclass(frozen=True)
class Previous(Command):
    pass


@dataclass(frozen=True)
class Select(Command):
    node_id: int


@dataclass(frozen=True)
class ShowScene(Command):
    name: str  # "walk", "tree", "live", "generating"


@dataclass(frozen=True)
class ToggleStatus(Command):
    pass


@dataclass(frozen=True)
class Pause(Command):
    paused: bool | None = None  # None toggles


@dataclass(frozen=True)
class Speed(Command):
    value: float  # 0 (slowest) to 1 (fastest)


@dataclass(frozen=True)
class Blackout(Command):
    on: bool


@dataclass(frozen=True)
class Capture(Command):
    parent_id: int | None = None


@dataclass(frozen=True)
class Train(Command):
    node_id: int
    network: str


@dataclass(frozen=True)
class Choose(Command):
    node_id: int
    chosen: bool = True


@dataclass(frozen=True)
class Hide(Command):
    node_id: int
    hidden: bool = True


@dataclass(frozen=True)
class Title(Command):
    node_id: int
    text: str


@dataclass(frozen=True)
class Language(Command):
    code: str


@dataclass(frozen=True)
class Quit(Command):
    pass


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str = ""  # English, for logs and OSC error replies


class RateLimiter:
    """At most `per_minute` events per key in any sliding 60-second window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._times: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            times = self._times.setdefault(key, collections.deque())
            while times and now - times[0] >= 60.0:
                times.popleft()
            if len(times) >= self.per_minute:
                return False
            times.append(now)
            return True


class CommandBus:
    """A thread-safe queue of checked commands, drained by the display loop.

    `trusted(source)` decides whether a source may send artist commands; local keys
    are always trusted. Visitor commands are limited per sender to
    `visitor_per_minute`.
    """

    def __init__(self, visitor_per_minute: int = 30,
                 trusted: Callable[[Source], bool] | None = None):
        self._queue: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._limiter = RateLimiter(visitor_per_minute)
        self._trusted = trusted or (lambda source: source.kind in ("key", "cli"))

    def submit(self, command: Command) -> Verdict:
        """Check a command and queue it; the verdict says whether it was accepted and why not."""
        source = command.source
        if command.level == ARTIST and source.kind not in ("key", "cli") and not self._trusted(source):
            log.info("refused %s from %s: not on the allow list", type(command).__name__, source.sender)
            return Verdict(False, f"{type(command).__name__.lower()} is not allowed from {source.host}")
        if command.level == VISITOR and source.kind != "cli" and not self._limiter.allow(source.sender):
            log.info("refused %s from %s: rate limit", type(command).__name__, source.sender)
            return Verdict(False, "too many requests; wait a moment")
        self._queue.put(command)
        return Verdict(True)

    def drain(self, limit: int = 64) -> list[Command]:
        """Return up to `limit` queued commands without waiting."""
        commands = []
        while len(commands) < limit:
            try:
                commands.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return commands
