"""`twoway run`: the kiosk."""

from __future__ import annotations

import argparse
import logging

from installation.logs import configure_logging

log = logging.getLogger(__name__)


def register(subparsers, common) -> None:
    command = subparsers.add_parser("run", parents=[common], help="start the installation (the kiosk display)")
    command.set_defaults(handler=run_kiosk)


def seed_demo(archive, texts) -> int | None:
    """Add the demo painting when the archive is empty; return its id, or None."""
    if archive.count():
        return None
    from installation.demo import demo_photo

    node = archive.add_painting(demo_photo(), title=texts("demo.title"), author=texts("demo.author"),
                                source_name="demo", demo=True)
    log.info("archive was empty: seeded demo painting as node %d", node.id)
    return node.id


def run_kiosk(args: argparse.Namespace, context) -> int:
    configure_logging(context.settings.general.log_level)
    log.info("starting; settings from %s:\n%s", context.settings.source, context.settings.describe())
    node_id = seed_demo(context.archive, context.texts)
    if node_id is not None:
        context.say("cli.demo_seeded", node_id=node_id)
    context.say("cli.run_pending")
    return 0
