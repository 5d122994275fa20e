"""The `twoway` command line.

Each module listed in COMMAND_MODULES adds its subcommands with
`register(subparsers, common)`, where `common` is the parent parser that gives
every subcommand `--config`, `--set` and `--verbose`. A subcommand sets
`handler=function(args, context) -> int` through `set_defaults`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from dataclasses import dataclass, field
from functools import cached_property

from installation.config import ConfigError, Settings, load_settings
from installation.logs import configure_logging
from installation.texts import Texts, TwowayError

log = logging.getLogger(__name__)

COMMAND_MODULES = [
    "installation.cli.network_commands",
    "installation.cli.archive_commands",
    "installation.cli.run_command",
    "installation.cli.screenshot_command",
    "installation.cli.ops_commands",
    "installation.cli.artist_commands",
    "installation.cli.osc_command",
    "installation.cli.train_command",
    "installation.cli.capture_commands",
]


@dataclass
class Context:
    """Resolved settings, the artist's language and the archive, given to every subcommand."""

    settings: Settings
    texts: Texts
    _archive: object = field(default=None, repr=False)

    @cached_property
    def archive(self):
        from installation.archive import Archive

        self._archive = Archive(self.settings.archive_dir(), self.settings.archive)
        return self._archive

    def say(self, key: str, **params) -> None:
        """Print a message for the artist in the configured language."""
        print(self.texts(key, **params))

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()


def int_between(low: int, high: int):
    """Return an argparse type that accepts whole numbers from `low` to `high`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: use {low} to {high}")
        return value

    return parse


def _common_options(overrides_dest: str) -> argparse.ArgumentParser:
    """Return a parser of the options every command takes, storing `--set` values in `overrides_dest`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="settings file to read (default: config.toml beside the program)")
    common.add_argument("--set", metavar="SECTION.KEY=VALUE", action="append", dest=overrides_dest,
                        default=argparse.SUPPRESS,
                        help="override one setting, for example --set display.fullscreen=false; repeatable")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="print log messages of level INFO and above")
    return common


def build_parser() -> argparse.ArgumentParser:
    # A subcommand parses into a namespace of its own and copies it over the main one,
    # so a --set after the command would replace those before it. They get their own
    # destination, and `main` joins the two lists.
    parser = argparse.ArgumentParser(
        prog="twoway", parents=[_common_options("overrides")],
        description="Two-Way Street: a painter and neural networks take turns. "
                    "Run 'twoway COMMAND --help' for the options of one command.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    command_options = _common_options("command_overrides")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers, command_options)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2

    # Commands other than the kiosk print their own messages; logs go to standard
    # error and stay quiet unless asked for.
    verbose = getattr(args, "verbose", False)
    quiet_level = "INFO" if verbose else "WARNING"
    configure_logging(quiet_level, stream=sys.stderr)

    try:
        overrides = getattr(args, "overrides", []) + getattr(args, "command_overrides", [])
        settings = load_settings(getattr(args, "config", None), overrides)
    except ConfigError as error:
        print(Texts("en")("errors.config", reason=error), file=sys.stderr)
        return 2
    log.info("settings from %s:\n%s", settings.source, settings.describe())

    context = Context(settings=settings, texts=Texts(settings.general.language))
    try:
        status = args.handler(args, context)
        sys.stdout.flush()  # inside the try, so a closed pipe is handled below
        return status
    except TwowayError as error:
        log.info("command %s failed: %s", args.command, error)
        print(error.message(context.texts), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of the output went away (for example `twoway tree | head`).
        # Point standard output at /dev/null so the exit-time flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        context.close()
