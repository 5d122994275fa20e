"""Soak test: run the real kiosk headless for a while with button presses and OSC traffic.

Builds the App as `twoway run` does (OSC server, operations hooks, the worker when
installed) on a fresh archive of test paintings, with the SDL dummy driver. A hook
in the display loop presses the visitor button at random moments through pygame's
event queue. A thread sends random OSC commands to the kiosk's own port on
127.0.0.1. Every minute it prints fps, 99th-percentile frame time, memory of the
kiosk and of its child processes, jobs done and unhandled exceptions. At the end
it checks the targets: RSS growth under 5% after the first five minutes, no fall
in fps, no unhandled exception.

    .venv/bin/python benchmarks/soak.py --minutes 30
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import psutil  # noqa: E402
import pygame  # noqa: E402
from pythonosc.osc_message_builder import OscMessageBuilder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAINTINGS = ROOT.parent / "shared" / "paintings"

from installation.app import App  # noqa: E402
from installation.archive import Archive  # noqa: E402
from installation.cli.run_command import add_services  # noqa: E402
from installation.config import load_settings  # noqa: E402
from installation.logs import configure_logging  # noqa: E402
from installation.operations import Operations  # noqa: E402

# Visitor-level and artist-level OSC commands sent at random, as (address, arguments).
OSC_COMMANDS = [
    ("/twoway/next", []), ("/twoway/previous", []), ("/twoway/status", []), ("/twoway/ping", []),
    ("/twoway/speed", [0.3]), ("/twoway/speed", [0.8]), ("/twoway/scene", ["tree"]),
    ("/twoway/scene", ["walk"]), ("/twoway/overlay", []),
    ("/twoway/generate", []),
]


class Exceptions:
    """Count unhandled exceptions in the main thread and in every other thread."""

    def __init__(self):
        self.count = 0
        self.last = ""
        threading.excepthook = self._thread_hook

    def _thread_hook(self, hook_args) -> None:
        self.add(f"thread {hook_args.thread.name}: {hook_args.exc_type.__name__}: {hook_args.exc_value}")

    def add(self, text: str) -> None:
        self.count += 1
        self.last = text
        print(f"UNHANDLED EXCEPTION: {text}", flush=True)


class Minutes:
    """Frame times per minute, with memory and job figures printed at the end of each minute."""

    def __init__(self, app: App, exceptions: Exceptions, press_every_s: float, rng: random.Random):
        self.app = app
        self.exceptions = exceptions
        self.press_every_s = press_every_s
        self.rng = rng
        self.process = psutil.Process()
        self.rows: list[dict] = []
        self.frame_times: list[float] = []
        self.started = self.minute_started = time.monotonic()
        self.next_press = self.started + rng.expovariate(1 / press_every_s)
        self.presses = 0
        self.key = pygame.key.key_code(app.settings.visitor.button_key)

    def on_frame(self, seconds: float) -> None:
        now = time.monotonic()
        self.frame_times.append(seconds)
        if now >= self.next_press:
            # Through pygame's own queue, as the USB button's key press would arrive.
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=self.key, mod=0))
            self.presses += 1
            self.next_press = now + self.rng.expovariate(1 / self.press_every_s)
        if now - self.minute_started >= 60.0:
            self.close_minute(now)

    def close_minute(self, now: float) -> None:
        times = sorted(self.frame_times)
        children = self.process.children(recursive=True)
        child_rss = sum(_rss(child) for child in children)
        row = {
            "minute": len(self.rows) + 1,
            "fps": len(times) / (now - self.minute_started),
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000 if times else 0.0,
            "rss_mb": self.process.memory_info().rss / 2**20,
            "child_rss_mb": child_rss / 2**20,
            "presses": self.presses,
            "jobs_done": self.app.jobs_done,
            "exceptions": self.exceptions.count,
        }
        self.rows.append(row)
        self.frame_times = []
        self.minute_started = now
        print(f"minute {row['minute']:3d}  fps {row['fps']:5.1f}  p99 {row['p99_ms']:6.1f} ms  "
              f"rss {row['rss_mb']:7.1f} MB  children {row['child_rss_mb']:7.1f} MB  "
              f"presses {row['presses']:4d}  jobs {row['jobs_done']}  exceptions {row['exceptions']}", flush=True)


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def send_osc(port: int, rate: float, stop: threading.Event, rng: random.Random, sent: list[int]) -> None:
    """Send random OSC commands to 127.0.0.1:`port` at about `rate` messages per second."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        while not stop.wait(rng.expovariate(rate)):
            address, arguments = rng.choice(OSC_COMMANDS)
            builder = OscMessageBuilder(address)
            for argument in arguments:
                builder.add_arg(argument)
            sender.sendto(builder.build().dgram, ("127.0.0.1", port))
            sent[0] += 1


def make_archive(folder: Path, count: int) -> Path:
    paintings = sorted(PAINTINGS.glob("*.jpg"))[:count]
    if not paintings:
        raise SystemExit(f"no test paintings in {PAINTINGS}")
    with Archive(folder) as archive:
        for path in paintings:
            archive.import_photo(path)
    return folder


def report(rows: list[dict], exceptions: Exceptions, warmup: int) -> bool:
    """Print the targets' verdicts and return whether all were met."""
    steady = rows[warmup - 1:] if len(rows) >= warmup else rows[-1:]
    growth = (steady[-1]["rss_mb"] - steady[0]["rss_mb"]) / steady[0]["rss_mb"] * 100
    half = max(1, len(steady) // 2)
    fps_first = statistics.mean(r["fps"] for r in steady[:half])
    fps_last = statistics.mean(r["fps"] for r in steady[-half:])
    checks = [
        (f"RSS growth from minute {steady[0]['minute']} to {steady[-1]['minute']}: {growth:+.1f}% "
         f"(target under 5%)", growth < 5.0),
        (f"fps, first half of the steady minutes {fps_first:.1f}, second half {fps_last:.1f} "
         f"(target: no decline beyond 5%)", fps_last >= 0.95 * fps_first),
        (f"unhandled exceptions: {exceptions.count} (target 0)", exceptions.count == 0),
    ]
    for text, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {text}")
    return all(passed for _, passed in checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run, in minutes (default 30)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="minutes before RSS growth is measured (default 5)")
    parser.add_argument("--size", default="640x360", help="window size in pixels, WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--paintings", type=int, default=3, help="test paintings in the archive (default 3)")
    parser.add_argument("--press-every", type=float, default=20.0,
                        help="mean time between visitor button presses, in seconds (default 20)")
    parser.add_argument("--osc-rate", type=float, default=5.0,
                        help="mean OSC messages per second sent to the kiosk (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random presses and messages")
    parser.add_argument("--log-level", default="WARNING", help="kiosk log level (default WARNING)")
    args = parser.parse_args()

    configure_logging(args.log_level)
    width, height = (int(side) for side in args.size.split("x"))
    folder = Path(tempfile.mkdtemp(prefix="twoway-soak-"))
    rng = random.Random(args.seed)
    exceptions = Exceptions()
    try:
        archive_dir = make_archive(folder / "archive", args.paintings)
        settings = load_settings(overrides=[f"archive.path={archive_dir}", "osc.host=127.0.0.1", "osc.port=0",
                                            "display.fullscreen=false"])
        app = App(settings, archive_dir, size=(width, height))
        add_services(app)
        Operations(app, {"SDL_VIDEODRIVER": "dummy"})
        app.start()
        minutes = Minutes(app, exceptions, args.press_every, rng)
        app.on_frame.append(minutes.on_frame)
        osc_server = next(service for service in app.services if hasattr(service, "port"))

        stop, sent = threading.Event(), [0]
        sender = threading.Thread(target=send_osc, args=(osc_server.port, args.osc_rate, stop, rng, sent),
                                  name="soak-osc", daemon=True)
        sender.start()
        print(f"soak: {args.minutes:g} min, {width}x{height}, worker {'on' if app.worker else 'off'}, "
              f"button every {args.press_every:g} s, {args.osc_rate:g} OSC messages/s", flush=True)
        deadline = time.monotonic() + args.minutes * 60
        try:
            while app.running and time.monotonic() < deadline:
                app.step()
        except Exception as error:  # the soak records it and stops; the kiosk would have crashed here
            exceptions.add(f"main loop: {type(error).__name__}: {error}")
            logging.getLogger("soak").exception("display loop raised")
        finally:
            stop.set()
            sender.join(timeout=5)
            app.stop()
        print(f"OSC messages sent: {sent[0]}, button presses: {minutes.presses}, "
              f"OSC counters: {getattr(osc_server, 'counters', {})}")
        if not minutes.rows:
            print("ran less than a minute: no figures")
            return 1
        return 0 if report(minutes.rows, exceptions, args.warmup) else 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
