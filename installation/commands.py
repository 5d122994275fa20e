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
import functools
import ipaddress
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterable

from installation.logs import RateLimitedLog

log = logging.getLogger(__name__)

VISITOR = "visitor"
ARTIST = "artist"


@dataclass(frozen=True)
class Source:
    """The origin of a command: `kind` is "key", "button", "osc" or "cli"."""

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
    vary_from: int | None = None  # multiscale: first scale given new noise; None uses the settings


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


class AllowList:
    """Hosts and networks, each written as an address or a CIDR range ("192.168.1.0/24", "::1").

    An IPv4 address seen through an IPv6 socket ("::ffff:10.0.0.5") counts as
    the IPv4 address. Invalid entries raise ValueError naming the entry.
    """

    def __init__(self, entries: Iterable[str]):
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
        self.networks = tuple(networks)
        # Parsing an address costs tens of microseconds, and a flood repeats the same few hosts.
        self._matches = functools.lru_cache(maxsize=4096)(self._match)

    def __contains__(self, host: object) -> bool:
        return isinstance(host, str) and self._matches(host)

    def _match(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address.version == network.version and address in network for network in self.networks)


class CommandBus:
    """A thread-safe, bounded queue of checked commands, drained by the display loop.

    `trusted(source)` decides whether a source may send artist commands. Local keys
    are always trusted, and `trust(kind, check)` adds a check for one source kind,
    which is how the OSC server adds its allow list. Visitor commands are limited to
    `visitor_per_minute` per sending host. At most `max_queued` commands wait;
    more are rejected and counted in `dropped`, so a flood cannot grow the queue.
    """

    def __init__(self, visitor_per_minute: int = 30,
                 trusted: Callable[[Source], bool] | None = None,
                 max_queued: int = 1024):
        self._queue: queue.Queue[Command] = queue.Queue(maxsize=max_queued)
        self._limiter = RateLimiter(visitor_per_minute)
        self._trusted = trusted or (lambda source: source.kind in ("key", "cli"))
        self._trust_checks: dict[str, Callable[[Source], bool]] = {}
        self._limited = RateLimitedLog(log)
        self.dropped = 0

    def trust(self, kind: str, check: Callable[[Source], bool]) -> None:
        """Let sources of `kind` send artist commands when `check(source)` is true."""
        self._trust_checks[kind] = check

    def is_trusted(self, source: Source) -> bool:
        """Return whether `source` may send artist commands."""
        if source.kind in ("key", "cli") or self._trusted(source):
            return True
        check = self._trust_checks.get(source.kind)
        return check is not None and check(source)

    def submit(self, command: Command) -> Verdict:
        """Check a command and queue it; the verdict tells whether it was accepted, and if not, why."""
        source = command.source
        name = type(command).__name__
        if command.level == ARTIST and not self.is_trusted(source):
            self._limited.log(logging.INFO, f"allow:{source.host}", "rejected %s from %s: not on the allow list",
                              name, source.sender)
            return Verdict(False, f"{name.lower()} is not allowed from {source.host}")

        # The limit counts per host, so a client cannot escape it by changing its port.
        if command.level == VISITOR and source.kind != "cli" and not self._limiter.allow(f"{source.kind}:{source.host}"):
            self._limited.log(logging.INFO, f"rate:{source.host}", "rejected %s from %s: rate limit reached",
                              name, source.sender)
            return Verdict(False, "too many requests; wait a moment")

        try:
            self._queue.put_nowait(command)
        except queue.Full:
            self.dropped += 1
            self._limited.log(logging.WARNING, "full", "command queue full: dropped %s from %s (%d dropped in all)",
                              name, source.sender, self.dropped)
            return Verdict(False, "the command queue is full; try again in a moment")
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
