"""The OSC address space: each address under the root, its typed arguments and its command.

Arguments are checked for type and range here and turned into the bus's
commands. Tablets send numbers as floats and buttons as 1.0 or 0.0, so an
integer argument also accepts a float with no fraction, and a true/false
argument accepts T, F, 0 and 1.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from installation import commands
from installation.commands import Command, Source
from models.registry import available

SCENES = ("walk", "tree", "live", "generating")
LANGUAGES = ("es", "en")
MAX_NODE_ID = 2**31 - 1
MAX_SEED = 2**31 - 1
MAX_COUNT = 16
MAX_TITLE_CHARS = 200
NETWORK_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")

# Addresses the server handles itself instead of queueing a command.
SERVER_ADDRESSES = ("status", "ping", "hello", "bye")

_REQUIRED = object()


class InvalidArguments(Exception):
    """Arguments of the wrong type, range or number; the message is sent back to the sender."""


class Arguments:
    """Reads an OSC message's arguments in order, checking each one's type and range."""

    def __init__(self, name: str, values: list[Any]):
        self.name = name
        self.values = values
        self.index = 0

    def _next(self, label: str, default: Any) -> tuple[Any, bool]:
        """Return the next value and True, or the default and False when none is left."""
        if self.index < len(self.values):
            value = self.values[self.index]
            self.index += 1
            return value, True
        if default is _REQUIRED:
            raise InvalidArguments(f"{self.name}: missing argument {self.index + 1} ({label})")
        return default, False

    def integer(self, label: str, low: int, high: int, default: Any = _REQUIRED) -> Any:
        value, given = self._next(label, default)
        if not given:
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArguments(f"{self.name}: {label} must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise InvalidArguments(f"{self.name}: {label} must be from {low} to {high}, got {value}")
        return value

    def number(self, label: str, low: float, high: float) -> float:
        value, _ = self._next(label, _REQUIRED)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidArguments(f"{self.name}: {label} must be a number, got {value!r}")
        if not low <= value <= high:
            raise InvalidArguments(f"{self.name}: {label} must be from {low:g} to {high:g}, got {value:g}")
        return float(value)

    def flag(self, label: str, default: Any = _REQUIRED) -> Any:
        value, given = self._next(label, default)
        if not given:
            return value
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        raise InvalidArguments(f"{self.name}: {label} must be 0 or 1 (or T/F), got {value!r}")

    def text(self, label: str, max_chars: int, choices: tuple[str, ...] = (),
             pattern: re.Pattern | None = None, default: Any = _REQUIRED) -> Any:
        value, given = self._next(label, default)
        if not given:
            return value
        if not isinstance(value, str):
            raise InvalidArguments(f"{self.name}: {label} must be a string, got {value!r}")
        if not value.strip():
            raise InvalidArguments(f"{self.name}: {label} must not be empty")
        if len(value) > max_chars or not value.isprintable():
            raise InvalidArguments(f"{self.name}: {label} must be at most {max_chars} printable characters")
        if choices and value not in choices:
            raise InvalidArguments(f"{self.name}: {label} must be one of {', '.join(choices)}, got {value!r}")
        if pattern is not None and not pattern.fullmatch(value):
            raise InvalidArguments(f"{self.name}: {label} {value!r} is not a valid name "
                                   "(lower-case letters, digits, '-' and '_')")
        return value

    def finish(self) -> None:
        """Raise InvalidArguments if arguments are left over."""
        if self.index < len(self.values):
            raise InvalidArguments(f"{self.name}: takes at most {self.index} arguments, got {len(self.values)}")


@dataclass(frozen=True)
class Address:
    """One command address: its argument usage, who may send it, and how to build its command."""

    name: str
    usage: str
    build: Callable[[Arguments, Source], Command]
    # A trigger also takes a tablet button's lone 1.0 as no arguments and ignores its 0.0 (release).
    trigger: bool = False


MAX_VARY_FROM = 32  # the first multiscale scale given new noise; higher values mean the finest scale


def _node(args: Arguments) -> int:
    return args.integer("node", 1, MAX_NODE_ID)


def _network(args: Arguments, **default) -> str:
    """Read a network name, which must be an installed network when given (listing them imports no torch)."""
    name = args.text("network", 32, pattern=NETWORK_NAME, **default)
    if name and name not in available():
        raise InvalidArguments(f"{args.name}: unknown network {name!r}; use one of {', '.join(available())}")
    return name


def _generate(args: Arguments, source: Source) -> Command:
    count = args.integer("count", 1, MAX_COUNT, default=1)
    network = _network(args, default="")
    seed = args.integer("seed", 0, MAX_SEED, default=None)
    vary_from = args.integer("vary_from", 0, MAX_VARY_FROM, default=None)
    return commands.Generate(count=count, network=network, seed=seed, vary_from=vary_from, source=source)


COMMAND_ADDRESSES: dict[str, Address] = {address.name: address for address in (
    Address("generate", f"[count 1-{MAX_COUNT}] [network] [seed] [vary_from 0-{MAX_VARY_FROM}]", _generate,
            trigger=True),
    Address("next", "", lambda args, source: commands.Next(source=source), trigger=True),
    Address("previous", "", lambda args, source: commands.Previous(source=source), trigger=True),
    Address("select", "node", lambda args, source: commands.Select(_node(args), source=source)),
    Address("scene", "|".join(SCENES),
            lambda args, source: commands.ShowScene(args.text("scene", 16, choices=SCENES), source=source)),
    Address("pause", "[0|1] (none toggles)",
            lambda args, source: commands.Pause(args.flag("paused", default=None), source=source)),
    Address("speed", "0.0-1.0",
            lambda args, source: commands.Speed(args.number("speed", 0.0, 1.0), source=source)),
    Address("blackout", "0|1", lambda args, source: commands.Blackout(args.flag("on"), source=source)),
    Address("capture", "[parent node]",
            lambda args, source: commands.Capture(args.integer("parent", 1, MAX_NODE_ID, default=None),
                                                  source=source), trigger=True),
    Address("train", "node network",
            lambda args, source: commands.Train(_node(args), _network(args), source=source)),
    Address("choose", "node [0|1]",
            lambda args, source: commands.Choose(_node(args), args.flag("chosen", default=True), source=source)),
    Address("hide", "node [0|1]",
            lambda args, source: commands.Hide(_node(args), args.flag("hidden", default=True), source=source)),
    Address("title", "node text",
            lambda args, source: commands.Title(_node(args), args.text("title", MAX_TITLE_CHARS).strip(),
                                                source=source)),
    Address("language", "|".join(LANGUAGES),
            lambda args, source: commands.Language(args.text("language", 2, choices=LANGUAGES), source=source)),
    Address("overlay", "", lambda args, source: commands.ToggleStatus(source=source), trigger=True),
    Address("quit", "", lambda args, source: commands.Quit(source=source), trigger=True),
)}


def button_state(address: Address, values: list[Any]) -> bool | None:
    """Return True (pressed) or False (released) for a tablet button's message to a trigger, else None.

    Tablets send a lone float 1.0 or 0.0 (or T/F) for a button. A whole number is
    an ordinary argument, such as the count of generate.
    """
    if not address.trigger or len(values) != 1:
        return None
    value = values[0]
    if isinstance(value, bool) or (isinstance(value, float) and value in (0.0, 1.0)):
        return bool(value)
    return None


def build_command(name: str, values: list[Any], source: Source) -> Command:
    """Build the command for address `name` from its arguments, or raise InvalidArguments."""
    address = COMMAND_ADDRESSES[name]
    args = Arguments(name, values)
    command = address.build(args, source)
    args.finish()
    return command
