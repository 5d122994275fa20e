"""The OSC server: one thread reads UDP datagrams, checks them and feeds the command bus.

It reads the socket itself instead of using python-osc's dispatcher, because
that dispatcher drops parse errors without a trace and sleeps in the receiving
thread until a future bundle is due. Here a bundle due soon waits in a bounded
schedule while other datagrams keep arriving, every bad datagram is counted,
and the same thread sends replies and the state feedback, so nothing else
touches the socket. python-osc's threading server starts a thread per datagram
and lost most of a 1,000-message burst, so one thread with a large receive
buffer reads everything.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import logging
import socket
import threading
import time
from typing import Any, Callable

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import BuildError, build_msg

from installation.commands import AllowList, CommandBus, Source
from installation.config import OscSettings
from installation.logs import RateLimitedLog
from installation.osc.addresses import (COMMAND_ADDRESSES, SERVER_ADDRESSES, InvalidArguments,
                                        build_command, button_state)
from installation.osc.feedback import FeedbackClients, Target, full_state, parse_target, state_messages
from installation.osc.packets import MalformedPacket, TooManyMessages, read_packet
from installation.state import StateBoard
from installation.texts import TwowayError

log = logging.getLogger(__name__)

COUNTERS = ("datagrams", "flood_dropped", "messages", "commands", "oversized", "malformed", "too_many_messages",
            "unknown_address", "invalid", "refused", "bus_full", "button_releases", "late_bundles",
            "schedule_full", "scheduled", "replies", "replies_skipped", "send_errors", "internal_errors",
            "restarts")

IDLE_WAKEUP_S = 0.1  # maximum wait on the socket, in seconds, so stop() and feedback are never held up longer
MAX_RESTART_DELAY_S = 5.0


class OscServer:
    """A UDP OSC server in its own thread, with `start()` and `stop()` for the kiosk's services.

    `counters` maps each name in COUNTERS to how often it happened; only the
    server's thread writes it.
    """

    def __init__(self, settings: OscSettings, bus: CommandBus, board: StateBoard | None = None,
                 has_node: Callable[[int], bool] | None = None):
        self.settings = settings
        self.bus = bus
        self.board = board
        self.has_node = has_node  # whether an image number is in the archive; None accepts every number
        self.root = _check_root(settings.root)
        self.allow = _allow_list(settings.allow, "osc.allow")
        self.visitors = _allow_list(settings.visitor_networks, "osc.visitor_networks")
        self.clients = FeedbackClients(_fixed_clients(settings.feedback_clients), settings.max_clients,
                                       settings.client_timeout_s)
        bus.trust("osc", lambda source: source.host in self.allow)

        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._socket: socket.socket | None = None
        self._port = settings.port
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._scheduled: list[tuple[float, int, OscMessage, tuple]] = []  # (system time, order, message, sender)
        self._order = itertools.count()
        self._error_replies: dict[str, tuple[int, int]] = {}  # host -> (second, replies sent in it)
        self._datagrams: dict[str, tuple[int, int]] = {}  # host -> (second, datagrams read in it)
        self._feedback_due = 0.0
        self._state_version = 0
        self._greet_fixed_clients = True
        self._limited = RateLimitedLog(log, interval=10.0)

    @property
    def port(self) -> int:
        """The UDP port in use, which the system chooses when osc.port is 0."""
        return self._port

    def start(self) -> None:
        """Bind the port and start the server's thread; raise TwowayError if the port is taken."""
        if not self.settings.enabled:
            log.info("OSC server disabled by osc.enabled")
            return
        self._stopping.clear()
        self._socket = self._bind()
        if self.board is not None:
            _, self._state_version = self.board.snapshot()
        self._thread = threading.Thread(target=self._run, name="osc-server", daemon=True)
        self._thread.start()
        log.info("OSC server started on %s:%d with root %s", self.settings.host, self._port, self.root)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and close the socket."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("OSC server thread did not stop within %.1f s", timeout)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        log.info("OSC server stopped; counters: %s", self.counters)

    # --- socket and thread ------------------------------------------------------------

    def _bind(self) -> socket.socket:
        host = self.settings.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.settings.receive_buffer_bytes)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if granted < self.settings.receive_buffer_bytes:
            log.warning("OSC receive buffer is %d bytes, less than osc.receive_buffer_bytes = %d "
                        "(the system's limit is net.core.rmem_max)", granted, self.settings.receive_buffer_bytes)
        try:
            sock.bind((host, self._port))
        except OSError as error:
            sock.close()
            if error.errno == errno.EADDRINUSE:
                raise TwowayError("osc.port_in_use", port=self._port, host=host) from None
            raise TwowayError("osc.bind_failed", port=self._port, host=host, reason=error.strerror) from None
        self._port = sock.getsockname()[1]
        return sock

    def _run(self) -> None:
        """Serve until stopped; if serving fails, log it, wait, bind the port again and go on."""
        failures = 0
        while not self._stopping.is_set():
            try:
                self._serve()
            except Exception as error:  # any failure of the loop must not end the thread
                if self._stopping.is_set():
                    break
                failures += 1
                self.counters["restarts"] += 1
                delay = min(MAX_RESTART_DELAY_S, 0.1 * 2 ** min(failures, 6))
                log.error("OSC server failed on port %d (%s); restart %d in %.1f s",
                          self._port, error, failures, delay, exc_info=True)
                if self._stopping.wait(delay):
                    break
                self._rebind()

    def _rebind(self) -> None:
        if self._socket is not None:
            self._socket.close()
        try:
            self._socket = self._bind()
            log.info("OSC server bound port %d again", self._port)
        except TwowayError as error:
            log.error("OSC server could not bind port %d again: %s", self._port, error)

    def _serve(self) -> None:
        sock = self._socket
        while not self._stopping.is_set():
            sock.settimeout(self._wait_s())
            try:
                data, sender = sock.recvfrom(self.settings.max_datagram_bytes + 1)
            except TimeoutError:
                pass
            else:
                self._receive(data, sender)
            self._run_due()
            self._push_feedback()

    def _wait_s(self) -> float:
        """Return how long the socket may wait before scheduled work or feedback is due."""
        wait = min(IDLE_WAKEUP_S, self._feedback_due - time.monotonic())
        if self._scheduled:
            wait = min(wait, self._scheduled[0][0] - time.time())
        return max(wait, 0.001)

    # --- incoming datagrams -----------------------------------------------------------

    def _receive(self, data: bytes, sender: tuple) -> None:
        """Check one datagram, then handle its messages now or schedule them for their time."""
        self.counters["datagrams"] += 1
        host = sender[0]
        if not _within_rate(self._datagrams, host, self.settings.max_datagrams_per_second):
            # Dropped before parsing and without a reply, so a flood costs the kiosk little.
            self.counters["flood_dropped"] += 1
            self._limited.log(logging.WARNING, f"flood:{host}", "OSC flood from %s: more than %d datagrams "
                              "a second, the rest are dropped", host, self.settings.max_datagrams_per_second)
            return
        if len(data) > self.settings.max_datagram_bytes:
            self._reject("oversized", sender, f"datagram larger than {self.settings.max_datagram_bytes} bytes")
            return
        try:
            messages = read_packet(data, self.settings.max_bundle_messages)
        except TooManyMessages as error:
            self._reject("too_many_messages", sender, str(error))
            return
        except MalformedPacket as error:
            self._reject("malformed", sender, f"malformed packet: {error}")
            return
        except Exception:  # python-osc may raise more than it documents; count it, keep serving
            self.counters["internal_errors"] += 1
            self._limited.log(logging.ERROR, "parse-crash", "OSC packet from %s broke the parser", host)
            return

        if not messages:
            self._reject("malformed", sender, "empty bundle: it holds no message")
            return

        now = time.time()
        ahead = messages[-1].time - now
        if ahead > self.settings.max_bundle_delay_s:
            self._reject("late_bundles", sender, f"bundle time tag is {ahead:.1f} s ahead; "
                                                 f"at most {self.settings.max_bundle_delay_s:g} s is accepted")
            return
        waiting = sum(1 for timed in messages if timed.time > now)
        if len(self._scheduled) + waiting > self.settings.max_scheduled:
            self._reject("schedule_full", sender, "too many bundled messages waiting; send them later")
            return

        for timed in messages:
            if timed.time > now:
                heapq.heappush(self._scheduled, (timed.time, next(self._order), timed.message, sender))
                self.counters["scheduled"] += 1
            else:
                self._handle_safely(timed.message, sender)

    def _run_due(self) -> None:
        now = time.time()
        while self._scheduled and self._scheduled[0][0] <= now:
            _, _, message, sender = heapq.heappop(self._scheduled)
            self._handle_safely(message, sender)

    def _handle_safely(self, message: OscMessage, sender: tuple) -> None:
        try:
            self._handle(message, sender)
        except Exception:  # one bad message must not stop the others
            self.counters["internal_errors"] += 1
            self._limited.log(logging.ERROR, "handle-crash", "OSC message %.60r from %s failed",
                              message.address, sender[0])
            log.debug("OSC message failure", exc_info=True)

    def _handle(self, message: OscMessage, sender: tuple) -> None:
        """Check the address, the sender's rights and the arguments, then act on one message."""
        self.counters["messages"] += 1
        host, port = sender[0], sender[1]
        name = self._name_of(message.address)
        if name is None:
            self._reject("unknown_address", sender,
                         f"unknown address {message.address[:80]}; see {self.root}/... in the OSC table")
            return
        if host not in self.visitors and host not in self.allow:
            self._reject("refused", sender, f"{name} is not allowed from {host}")
            return
        self.clients.heard_from(self._reply_target(sender), time.monotonic())

        values = message.params
        if name in SERVER_ADDRESSES:
            self._answer(name, values, sender)
            return
        button = button_state(COMMAND_ADDRESSES[name], values)
        if button is False:
            self.counters["button_releases"] += 1
            return
        if button:
            values = []
        try:
            command = build_command(name, values, Source("osc", host, port))
        except InvalidArguments as error:
            self._reject("invalid", sender, str(error))
            return
        unknown = self._unknown_node(command)
        if unknown is not None:
            self._reject("invalid", sender, f"{name}: there is no image {unknown}")
            return

        verdict = self.bus.submit(command)
        if verdict.accepted:
            self.counters["commands"] += 1
        else:
            self._reject("bus_full" if "queue is full" in verdict.reason else "refused", sender, verdict.reason)

    def _unknown_node(self, command) -> int | None:
        """Return the image number the command names that the archive does not hold, if any."""
        if self.has_node is None:
            return None
        for field_name in ("node_id", "parent_id"):
            node_id = getattr(command, field_name, None)
            if node_id is not None and not self.has_node(node_id):
                return node_id
        return None

    def _name_of(self, address: str) -> str | None:
        """Return the command name of an address under the root, or None if it is unknown."""
        prefix = self.root + "/"
        if not address.startswith(prefix):
            return None
        name = address[len(prefix):]
        return name if name in COMMAND_ADDRESSES or name in SERVER_ADDRESSES else None

    # --- addresses the server handles itself ------------------------------------------

    def _answer(self, name: str, values: list, sender: tuple) -> None:
        target = self._reply_target(sender)
        if name == "ping":
            echo = values if len(values) <= 8 and all(isinstance(v, (int, float, str)) for v in values) else []
            self._send(target, f"{self.root}/pong", list(echo))
            return
        if name in ("hello", "bye") and values:
            port = values[0]
            if isinstance(port, float) and port.is_integer():
                port = int(port)
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535 or len(values) > 1:
                self._reject("invalid", sender, f"{name}: takes one optional reply port from 1 to 65535")
                return
            target = (sender[0], port)
        if name == "bye":
            self.clients.unregister(target)
            return
        if name == "hello":
            self.clients.register(target, time.monotonic())
        self._send_whole_state(target)

    def _send_whole_state(self, target: Target) -> None:
        if self.board is None:
            self._send(target, f"{self.root}/error", ["no kiosk state is available"])
            return
        state, _ = self.board.snapshot()
        for address, arguments in state_messages(self.root, full_state(state), state):
            self._send(target, address, arguments)

    def _push_feedback(self) -> None:
        """Send the fields that changed to every client, once per feedback interval."""
        now = time.monotonic()
        if now < self._feedback_due:
            return
        self._feedback_due = now + self.settings.feedback_interval_s
        self.clients.expire(now)
        if self.board is None:
            return
        if self._greet_fixed_clients:
            # Clients from the settings get the whole state once; others get it with hello.
            self._greet_fixed_clients = False
            for target in self.clients.fixed:
                self._send_whole_state(target)
        targets = self.clients.targets()
        changed, version = self.board.changes_since(self._state_version)
        if not changed or not targets:
            self._state_version = version
            return
        self._state_version = version
        state, _ = self.board.snapshot()
        for address, arguments in state_messages(self.root, changed, state):
            for target in targets:
                self._send(target, address, arguments)

    # --- replies ---------------------------------------------------------------------

    def _reply_target(self, sender: tuple) -> Target:
        return sender[0], self.settings.reply_port or sender[1]

    def _reject(self, counter: str, sender: tuple, reason: str) -> None:
        """Count a rejected datagram or message, log it at a limited rate and send the sender an error reply."""
        self.counters[counter] += 1
        self._limited.log(logging.WARNING, f"{counter}:{sender[0]}", "OSC %s from %s:%d: %s",
                          counter.replace("_", " "), sender[0], sender[1], reason)
        if self._error_reply_allowed(sender[0]):
            self._send(self._reply_target(sender), f"{self.root}/error", [reason])
        else:
            self.counters["replies_skipped"] += 1

    def _error_reply_allowed(self, host: str) -> bool:
        return _within_rate(self._error_replies, host, self.settings.error_replies_per_second)

    def _send(self, target: Target, address: str, arguments: list[Any]) -> None:
        try:
            self._socket.sendto(build_msg(address, arguments).dgram, target)
            self.counters["replies"] += 1
        except (OSError, BuildError) as error:
            self.counters["send_errors"] += 1
            self._limited.log(logging.WARNING, f"send:{target[0]}", "OSC reply %s to %s:%d failed: %s",
                              address, target[0], target[1], error)


def _within_rate(counts: dict[str, tuple[int, int]], host: str, per_second: int) -> bool:
    """Count one event for `host` in the current second; return False once it passes `per_second`."""
    second = int(time.monotonic())
    start, count = counts.get(host, (second, 0))
    if start != second:
        count = 0
    if count >= per_second:
        return False
    if len(counts) > 4096:
        counts.clear()  # many senders at once: forget old seconds rather than grow
    counts[host] = (second, count + 1)
    return True


def _check_root(root: str) -> str:
    root = root.rstrip("/")
    if not root.startswith("/") or any(c in root for c in " #*,?[]{}") or len(root) < 2:
        raise TwowayError("osc.bad_root", root=root)
    return root


def _allow_list(entries: tuple[str, ...], key: str) -> AllowList:
    try:
        return AllowList(entries)
    except ValueError as error:
        raise TwowayError("osc.bad_network", setting=key, reason=str(error)) from None


def _fixed_clients(entries: tuple[str, ...]) -> list[Target]:
    targets = []
    for entry in entries:
        try:
            targets.append(parse_target(entry))
        except ValueError:
            raise TwowayError("osc.bad_client", value=entry) from None
    return targets
