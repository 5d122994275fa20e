"""A small OSC client over UDP, for `twoway osc-send`, the tests and the benchmark.

It sends from one socket bound to a port of its own, so the server's replies
and state feedback come back to it.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage, ParseError
from pythonosc.osc_message_builder import build_msg


class OscClient:
    """Sends OSC messages to `host:port` and reads the replies that come back."""

    def __init__(self, host: str, port: int, bind_host: str | None = None):
        """Open a socket on `bind_host` (default: the loopback address; "" for every interface)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if bind_host is None:
            bind_host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.target = (host, port)
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        self.socket.bind((bind_host, 0))

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    def send(self, address: str, *arguments: Any) -> None:
        self.socket.sendto(build_msg(address, list(arguments)).dgram, self.target)

    def send_raw(self, datagram: bytes) -> None:
        self.socket.sendto(datagram, self.target)

    def send_bundle(self, messages: list[tuple[str, list]], at: float = 0.0) -> None:
        """Send messages in one bundle to run at system time `at` (0 means at once)."""
        builder = OscBundleBuilder(at)
        for address, arguments in messages:
            builder.add_content(build_msg(address, arguments))
        self.socket.sendto(builder.build().dgram, self.target)

    def receive(self, timeout: float = 2.0) -> tuple[str, list] | None:
        """Return the next reply as (address, arguments), or None if none came within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.socket.settimeout(left)
            try:
                data, _ = self.socket.recvfrom(65536)
            except TimeoutError:
                return None
            try:
                message = OscMessage(data)
            except ParseError:
                continue  # a bundle or a broken reply: not one this client reads
            return message.address, list(message.params)
        return None

    def receive_until(self, address: str, timeout: float = 2.0) -> list | None:
        """Return the arguments of the next reply to `address`, skipping others, or None on timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            reply = self.receive(left)
            if reply is None:
                return None
            if reply[0] == address:
                return reply[1]
        return None

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> "OscClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
