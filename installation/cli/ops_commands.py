"""`twoway doctor` and `twoway service install`: running the installation unattended."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from installation.doctor import PROBLEM, Doctor, format_table
from installation.service import ROOT, default_unit_path, install_unit, python_executable, render_unit

log = logging.getLogger(__name__)


def register(subparsers, common) -> None:
    command = subparsers.add_parser(
        "doctor", parents=[common],
        help="check settings, archive, disk, camera, GPU, display, OSC port, fonts and texts; "
             "exit status 1 if something is wrong",
        description="Check everything the kiosk needs and print a table with a fix for each problem, "
                    "in the language of general.language. Exit status 1 when a check finds a problem.")
    command.set_defaults(handler=run_doctor)

    command = subparsers.add_parser("service", parents=[common], help="set up the systemd service")
    actions = command.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = actions.add_parser(
        "install", parents=[common],
        help="write the systemd unit file for this checkout's paths",
        description="Write the systemd unit file for this checkout. The unit runs the kiosk as "
                    "service.user, with the display reached as service.display sets, and the archive "
                    "in the service's state directory. Then run the systemctl commands it prints.")
    install.add_argument("--print", action="store_true", dest="print_only",
                         help="print the unit to standard output instead of writing it")
    install.add_argument("--target", type=Path, metavar="PATH", default=None,
                         help="file to write (default: /etc/systemd/system/twoway.service, or "
                              "~/.config/systemd/user/twoway.service when service.display is desktop)")
    install.set_defaults(handler=install_service)


def run_doctor(args: argparse.Namespace, context) -> int:
    findings = Doctor(context.settings, os.environ).run()
    print(format_table(findings, context.texts))
    problems = sum(finding.state == PROBLEM for finding in findings)
    if problems:
        context.say("doctor.summary_problems", count=problems)
        return 1
    context.say("doctor.summary_ok")
    return 0


def install_service(args: argparse.Namespace, context) -> int:
    settings = context.settings
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        python = python_executable()
    text = render_unit(settings, root=ROOT, python=python, config=settings.source)
    if args.print_only:
        sys.stdout.write(text)
        return 0

    target = args.target or default_unit_path(settings.service)
    install_unit(text, target)
    user_unit = settings.service.display == "desktop"
    context.say("ops.unit_written", path=target)
    context.say("ops.unit_next_user" if user_unit else "ops.unit_next_system", user=settings.service.user)
    return 0
