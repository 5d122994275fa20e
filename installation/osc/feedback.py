"""State feedback: which clients receive the kiosk's state, and the messages that carry it.

Each field of `KioskState` that a tablet shows has its own address under
`<root>/state/`, with one argument, so a tablet label can show it directly.
When any node field changes, `<root>/state/node` also carries all four
(id, title, generation, kind) in one message.
"""

from __future__ import annotations

import logging
from typing import Any

from installation.state import KioskState

log = logging.getLogger(__name__)

Target = tuple[str, int]

# KioskState fields sent as feedback; fps changes every frame and is left out.
STATE_FIELDS = ("node_id", "node_title", "node_generation", "node_kind", "scene", "worker",
                "progress", "queue", "camera", "paused", "blackout", "language", "last_error")
NODE_FIELDS = ("node_id", "node_title", "node_generation", "node_kind")


def parse_target(text: str) -> Target:
    """Parse "host:port" (or "[v6 address]:port") into a target; raise ValueError if invalid."""
    host, separator, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not separator or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not host:port")
    return host, int(port)


def _osc_value(value: Any) -> Any:
    # OSC has no boolean argument that every tablet reads, so flags go as 0 or 1.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return round(value, 4)
    return value


def state_messages(root: str, changed: dict[str, Any], state: KioskState) -> list[tuple[str, list]]:
    """Return the feedback messages, as (address, arguments), for the `changed` fields."""
    messages = []
    for name in STATE_FIELDS:
        if name in changed:
            messages.append((f"{root}/state/{name}", [_osc_value(changed[name])]))
    if any(name in changed for name in NODE_FIELDS):
        messages.append((f"{root}/state/node", [_osc_value(getattr(state, name)) for name in NODE_FIELDS]))
    return messages


def full_state(state: KioskState) -> dict[str, Any]:
    """Return every feedback field of `state`, as `state_messages` takes it."""
    return {name: getattr(state, name) for name in STATE_FIELDS}


class FeedbackClients:
    """Clients that receive state feedback: fixed ones from the settings, and those that sent hello.

    A client that registered with hello is dropped after `timeout_s` seconds
    without a message from it; fixed clients stay. At most `max_clients` registered
    clients are kept, and the one heard from longest ago makes room for a new one.
    """

    def __init__(self, fixed: list[Target], max_clients: int, timeout_s: float):
        self.fixed = list(dict.fromkeys(fixed))
        self.max_clients = max_clients
        self.timeout_s = timeout_s
        self._registered: dict[Target, float] = {}  # target -> time last heard, in seconds

    def register(self, target: Target, now: float) -> bool:
        """Register or refresh a client; return True if it is new."""
        is_new = target not in self._registered and target not in self.fixed
        if is_new and len(self._registered) >= self.max_clients:
            oldest = min(self._registered, key=self._registered.get)
            del self._registered[oldest]
            log.info("feedback client %s:%d dropped to make room for %s:%d", *oldest, *target)
        if target not in self.fixed:
            self._registered[target] = now
        if is_new:
            log.info("feedback client %s:%d registered", *target)
        return is_new

    def heard_from(self, target: Target, now: float) -> None:
        """Note a message from a registered client, which keeps it registered."""
        if target in self._registered:
            self._registered[target] = now

    def unregister(self, target: Target) -> bool:
        """Remove a registered client; return whether it was registered."""
        removed = self._registered.pop(target, None) is not None
        if removed:
            log.info("feedback client %s:%d unregistered", *target)
        return removed

    def expire(self, now: float) -> None:
        for target, heard in list(self._registered.items()):
            if now - heard > self.timeout_s:
                del self._registered[target]
                log.info("feedback client %s:%d expired after %.0f s of silence", *target, self.timeout_s)

    def targets(self) -> list[Target]:
        return self.fixed + [target for target in self._registered if target not in self.fixed]
