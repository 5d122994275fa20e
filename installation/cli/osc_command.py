"""`twoway osc-send`: send one OSC message to the kiosk and print the replies, for testing from a terminal."""

from __future__ import annotations

import argparse
import logging
import time

from installation.osc.client import OscClient

log = logging.getLogger(__name__)


def register(subparsers, common) -> None:
    command = subparsers.add_parser(
        "osc-send", parents=[common], help="send one OSC message to the kiosk and print its replies",
        description="Send one OSC message to the kiosk's OSC server and print every reply that comes "
                    "back. An address without a leading slash is taken under osc.root, so "
                    "'twoway osc-send generate 2' sends /twoway/generate 2. Arguments that read as "
                    "whole numbers are sent as int32, those with a decimal point as float32, others "
                    "as strings.")
    command.add_argument("address", help="OSC address, such as ping, status or /twoway/speed")
    command.add_argument("arguments", nargs="*", metavar="ARG", help="arguments of the message")
    command.add_argument("--host", default="127.0.0.1",
                         help="host of the kiosk (default 127.0.0.1, this machine)")
    command.add_argument("--port", type=int, default=None,
                         help="UDP port of the kiosk's OSC server (default: osc.port)")
    command.add_argument("--wait", type=float, default=1.0, metavar="SECONDS",
                         help="how long to print replies for, in seconds (default 1.0)")
    command.add_argument("--string", action="store_true", help="send every argument as a string")
    command.set_defaults(handler=send_message)


def typed_argument(text: str, as_string: bool) -> int | float | str:
    """Return `text` as an int, a float or itself, as the command line's help describes."""
    if as_string:
        return text
    try:
        return int(text)
    except ValueError:
        pass
    if "." in text:
        try:
            return float(text)
        except ValueError:
            pass
    return text


def send_message(args: argparse.Namespace, context) -> int:
    settings = context.settings.osc
    address = args.address if args.address.startswith("/") else f"{settings.root.rstrip('/')}/{args.address}"
    port = args.port or settings.port
    arguments = [typed_argument(text, args.string) for text in args.arguments]

    # Replies from another machine reach a socket open on every interface, not only the loopback one.
    with OscClient(args.host, port, bind_host="") as client:
        client.send(address, *arguments)
        context.say("osc.sent", address=address, host=args.host, port=port)
        replies = 0
        deadline = time.monotonic() + args.wait
        while (left := deadline - time.monotonic()) > 0:
            reply = client.receive(left)
            if reply is None:
                break
            replies += 1
            context.say("osc.reply", address=reply[0], arguments=" ".join(repr(value) for value in reply[1]))
    if not replies:
        context.say("osc.no_reply", seconds=args.wait)
    return 0
