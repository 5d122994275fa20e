"""Running under systemd: the notify protocol, the watchdog, the status line and the unit file.

systemd passes `NOTIFY_SOCKET` (a Unix datagram socket) and `WATCHDOG_USEC` in the
environment of a `Type=notify` service. The program sends `READY=1` once the first
frame is on screen, `WATCHDOG=1` from the display loop itself (so a frozen loop
misses its pings and systemd restarts it), `STATUS=...` with one line of state, and
`STOPPING=1` when it shuts down. Outside systemd every message is a no-op.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Mapping

import psutil

from installation.config import ServiceSettings, Settings
from installation.logs import RateLimitedLog
from installation.state import StateBoard
from installation.texts import TwowayError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_UNIT_PATH = Path("/etc/systemd/system/twoway.service")
USER_UNIT_PATH = Path("~/.config/systemd/user/twoway.service")
# How often the STATUS= line shown by `systemctl status` is refreshed, in seconds.
STATUS_NOTIFY_INTERVAL = 1.0


class Notifier:
    """Send sd_notify messages to the socket named by `NOTIFY_SOCKET`, if there is one."""

    def __init__(self, address: str | None, watchdog_usec: int = 0):
        self.address = address or None
        # The watchdog interval, in seconds; 0 when systemd set no watchdog.
        self.watchdog_interval = watchdog_usec / 1e6
        self._errors = RateLimitedLog(log, interval=60.0)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "Notifier":
        """Build a notifier from the variables systemd sets for a `Type=notify` service."""
        address = environ.get("NOTIFY_SOCKET")
        watchdog_usec = 0
        watchdog_pid = environ.get("WATCHDOG_PID")
        # WATCHDOG_PID names the process the watchdog is meant for; another process ignores it.
        if environ.get("WATCHDOG_USEC", "").isdigit() and watchdog_pid in (None, str(os.getpid())):
            watchdog_usec = int(environ["WATCHDOG_USEC"])
        return cls(address, watchdog_usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send `KEY=value` fields in one datagram and return whether it was sent."""
        if self.address is None:
            return False
        address = self.address
        # A leading "@" names a socket in the abstract namespace.
        if address.startswith("@"):
            address = "\0" + address[1:]
        # A socket per message, as sd_notify(3) does: a few a second at most, and nothing to leak.
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sender:
                sender.setblocking(False)
                sender.sendto("\n".join(fields).encode("utf-8"), address)
            return True
        except OSError as error:
            self._errors.log(logging.WARNING, "send", "sd_notify to %s failed: %s", self.address, error)
            return False

    def ready(self) -> bool:
        return self.send("READY=1", f"MAINPID={os.getpid()}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.send("STATUS=" + text.replace("\n", " "))

    def stopping(self) -> bool:
        return self.send("STOPPING=1")


class ServiceMonitor:
    """The display loop's link to systemd and the log, called once per frame.

    `on_frame(seconds)` sends READY=1 after the first frame, WATCHDOG=1 at a third of
    the watchdog interval, STATUS= every second, and logs one status line every
    `status_interval_s`. `extra_stats()` may return more fields for that line, such
    as `jobs_done` or `gpu_mb`.
    """

    def __init__(self, settings: ServiceSettings, notifier: Notifier, board: StateBoard | None = None,
                 extra_stats: Callable[[], dict] | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.notifier = notifier
        self.board = board
        self.extra_stats = extra_stats or dict
        self.clock = clock
        self.frames = 0
        self._frame_times: list[float] = []  # seconds, since the last status line
        self._started = clock()
        self._last_ping = self._last_status = self._last_line = self._started
        self._process = psutil.Process()
        self.last_line = ""

    def on_frame(self, seconds: float) -> None:
        """Record one frame that took `seconds`, and ping, notify and log when due."""
        now = self.clock()
        self.frames += 1
        self._frame_times.append(seconds)
        if self.frames == 1:
            self.notifier.ready()
            log.info("first frame on screen after %.1f s; ready", now - self._started)

        interval = self.notifier.watchdog_interval
        if interval and now - self._last_ping >= interval / 3:
            self.notifier.watchdog()
            self._last_ping = now
        if self.settings.freeze_after_s and now - self._started >= self.settings.freeze_after_s:
            self._freeze()
        if self.notifier.enabled and now - self._last_status >= STATUS_NOTIFY_INTERVAL:
            self.notifier.status(self.short_status())
            self._last_status = now
        if now - self._last_line >= self.settings.status_interval_s:
            self.log_status_line(now - self._last_line)
            self._last_line = now

    def _freeze(self) -> None:
        # Test aid (service.freeze_after_s): block the display loop, as a hang would,
        # so that the missing watchdog pings can be seen.
        log.warning("service.freeze_after_s = %s: freezing the display loop on purpose",
                    self.settings.freeze_after_s)
        while True:
            time.sleep(3600)

    def short_status(self) -> str:
        """Return the STATUS= line: scene, node, fps and worker state."""
        if self.board is None:
            return f"{self.frames} frames"
        state, _ = self.board.snapshot()
        text = f"scene {state.scene}, node {state.node_id}, {state.fps:.1f} fps, worker {state.worker}"
        if state.last_error:
            text += f", {state.last_error}"
        return text

    def log_status_line(self, elapsed: float) -> str:
        """Log the periodic status line and start a new measuring window."""
        times = sorted(self._frame_times)
        self._frame_times = []
        fps = len(times) / elapsed if elapsed > 0 else 0.0
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000 if times else 0.0
        fields = {"fps": f"{fps:.1f}", "p99_ms": f"{p99:.1f}"}
        if self.board is not None:
            state, _ = self.board.snapshot()
            fields.update(queue=state.queue, worker=state.worker, camera=state.camera, scene=state.scene,
                          node=state.node_id)
        fields["rss_mb"] = f"{self._process.memory_info().rss / 2**20:.0f}"
        fields.update(self.extra_stats())
        self.last_line = " ".join(f"{key}={value}" for key, value in fields.items())
        log.info("status %s", self.last_line)
        return self.last_line

    def stopping(self) -> None:
        self.notifier.stopping()
        self.notifier.status("stopping")


def install_stop_handlers(stop: Callable[[], None]) -> None:
    """Call `stop()` on SIGTERM and SIGINT; it should only set a flag the display loop reads."""

    def handle(number, frame):
        log.info("received %s; stopping", signal.Signals(number).name)
        stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


# --- waiting for the screen ----------------------------------------------------------

def display_missing(mode: str, environ: Mapping[str, str]) -> str:
    """Return why the screen for `mode` cannot be opened yet, or "" when it can."""
    driver = environ.get("SDL_VIDEODRIVER", "")
    if driver in ("dummy", "offscreen"):
        return ""
    if mode == "kms" or driver == "kmsdrm":
        cards = sorted(Path("/dev/dri").glob("card*"))
        return "" if cards else "no DRM device in /dev/dri"
    wayland = environ.get("WAYLAND_DISPLAY", "")
    if wayland:
        runtime = Path(environ.get("XDG_RUNTIME_DIR", "/run/user/%d" % os.getuid()))
        path = Path(wayland) if wayland.startswith("/") else runtime / wayland
        return "" if path.exists() else f"Wayland socket {path} not found"
    display = environ.get("DISPLAY", "")
    if mode == "desktop" and display:
        number = display.partition(":")[2].partition(".")[0]
        # Only a local display ":N" has a socket to look for; a remote one is tried as it is.
        if display.startswith(":") and number.isdigit():
            path = Path(f"/tmp/.X11-unix/X{number}")
            return "" if path.exists() else f"X server socket {path} not found"
        return ""
    return "neither DISPLAY nor WAYLAND_DISPLAY is set"


def wait_for_display(settings: ServiceSettings, environ: Mapping[str, str], notifier: Notifier | None = None,
                     poll: float = 0.5) -> None:
    """Wait up to `display_wait_s` for the screen, then raise TwowayError so systemd retries."""
    deadline = time.monotonic() + settings.display_wait_s
    reason = display_missing(settings.display, environ)
    if reason:
        log.warning("display not ready (%s); waiting up to %d s", reason, settings.display_wait_s)
    while reason:
        if time.monotonic() >= deadline:
            log.error("display not ready after %d s: %s", settings.display_wait_s, reason)
            raise TwowayError("ops.display_missing", mode=settings.display, reason=reason,
                              seconds=settings.display_wait_s)
        if notifier is not None:
            notifier.status(f"waiting for the display: {reason}")
        time.sleep(poll)
        reason = display_missing(settings.display, environ)


# --- the unit file -------------------------------------------------------------------

def _quote(path: Path | str) -> str:
    text = str(path)
    if any(c in text for c in ' "\\\'$%;'):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
        return f'"{escaped}"'
    return text


DISPLAY_UNIT_LINES = {
    # Straight on KMS/DRM: SDL draws on the first DRM device; tty1 is taken from getty.
    "kms": {
        "unit": ["After=systemd-user-sessions.service getty@tty1.service", "Conflicts=getty@tty1.service"],
        "service": ["Environment=SDL_VIDEODRIVER=kmsdrm", "TTYPath=/dev/tty1", "TTYReset=yes",
                    "TTYVHangup=yes", "StandardInput=tty", "StandardOutput=journal",
                    "StandardError=journal", "NotifyAccess=main"],
        "wanted_by": "multi-user.target",
    },
    # Inside cage on tty1: cage starts the program, so notifications come from its child.
    # NOTE: untested here (no cage on the test machines). On stop, SIGTERM reaches cage
    # first, and the program may see the display close before its own clean stop.
    "cage": {
        "unit": ["After=systemd-user-sessions.service getty@tty1.service", "Conflicts=getty@tty1.service"],
        "service": ["Environment=SDL_VIDEODRIVER=wayland", "PAMName=login", "TTYPath=/dev/tty1",
                    "TTYReset=yes", "TTYVHangup=yes", "StandardInput=tty", "StandardOutput=journal",
                    "StandardError=journal", "NotifyAccess=all"],
        "wanted_by": "multi-user.target",
        "prefix": ["/usr/bin/cage", "-d", "--"],
    },
    # A user unit inside the desktop session, which exports DISPLAY or WAYLAND_DISPLAY.
    "desktop": {
        "unit": ["After=graphical-session.target", "PartOf=graphical-session.target"],
        "service": ["NotifyAccess=main"],
        "wanted_by": "graphical-session.target",
        "user_unit": True,
    },
}


def render_unit(settings: Settings, root: Path = ROOT, python: Path | None = None,
                config: Path | None = None) -> str:
    """Return the text of the systemd unit for a checkout at `root`."""
    service = settings.service
    lines = DISPLAY_UNIT_LINES[service.display]
    python = python or root / ".venv" / "bin" / "python"
    config = config or root / "config.toml"
    # %S is /var/lib for a system unit and ~/.local/state for a user unit.
    archive_path = "archive.path=%S/twoway/archive"
    command = " ".join([*lines.get("prefix", []), _quote(python), "-m", "installation",
                        "--config", _quote(config), "--set", archive_path, "run"])

    text = [
        f"# Two-Way Street kiosk ({service.display} display), written by 'twoway service install'.",
        f"# See {root / 'systemd' / 'README.md'} for the ways to reach the screen.",
        "[Unit]",
        "Description=Two-Way Street gallery installation",
        "Wants=network-online.target",
        "After=network-online.target",
        *lines["unit"],
        f"StartLimitIntervalSec={service.start_limit_interval_s}",
        f"StartLimitBurst={service.start_limit_burst}",
        "",
        "[Service]",
        "Type=notify",
    ]
    if not lines.get("user_unit"):
        text += [f"User={service.user}", f"Group={service.user}", "SupplementaryGroups=video render input"]
    text += [
        "StateDirectory=twoway",
        f"WorkingDirectory={_quote(root)}",
        "Environment=PYTHONUNBUFFERED=1",
        *lines["service"],
        f"ExecStart={command}",
        f"WatchdogSec={service.watchdog_s}",
        f"TimeoutStartSec={service.display_wait_s + 120}",
        f"TimeoutStopSec={service.stop_timeout_s + 5:g}",
        # SIGTERM goes to the program only: it stops its own worker within stop_timeout_s.
        "KillMode=mixed",
        "Restart=on-failure",
        f"RestartSec={service.restart_s}",
        # The wait between restarts grows from RestartSec to RestartMaxDelaySec (systemd 254
        # and later; older versions warn about these two keys and keep RestartSec).
        "RestartSteps=5",
        f"RestartMaxDelaySec={service.restart_max_s}",
        "",
        "[Install]",
        f"WantedBy={lines['wanted_by']}",
    ]
    return "\n".join(text) + "\n"


def default_unit_path(settings: ServiceSettings) -> Path:
    """Return where `twoway service install` writes the unit for this display mode."""
    if DISPLAY_UNIT_LINES[settings.display].get("user_unit"):
        return USER_UNIT_PATH.expanduser()
    return SYSTEM_UNIT_PATH


def install_unit(text: str, target: Path) -> None:
    """Write the unit file through a temporary file and rename, so a reload never reads half of it."""
    from installation.archive import write_atomic

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, text.encode("utf-8"))
    except (OSError, TwowayError) as error:
        log.error("writing unit file %s failed: %s", target, error)
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise TwowayError("ops.unit_write_failed", path=target, reason=reason) from error
    log.info("wrote unit file %s", target)


def python_executable() -> Path:
    """Return this program's Python interpreter, as the unit file should name it."""
    return Path(sys.executable)
