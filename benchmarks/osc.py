"""Measure the OSC server inside the running kiosk: loss under a flood, throughput and frame times.

The kiosk (`App`, headless with SDL's dummy driver, no worker process) runs in
this process with its OSC server on 127.0.0.1. A second process sends
`/twoway/speed` messages at a fixed rate, or as fast as it can, and stops by
itself. Printed per phase: messages sent, datagrams the server read, loss
(sent but never read), datagrams dropped over the per-host limit
(osc.max_datagrams_per_second), commands the bounded bus dropped, and the
display's frame times (mean, p99, max) while the flood ran.

    .venv/bin/python benchmarks/osc.py [--seconds 10] [--rates 1000 5000] [--size 1280x720]

Targets: no loss at 1,000 messages per second, and a p99 frame time of at
most 17 ms during the flood.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = "/twoway"


def send_flood(port: int, rate: float, seconds: float) -> None:
    """Send speed messages to 127.0.0.1:`port` at `rate` per second (0: as fast as possible), then print a JSON summary."""
    import socket

    from pythonosc.osc_message_builder import build_msg

    datagrams = [build_msg(f"{ROOT}/speed", [step / 100]).dgram for step in range(101)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", port)
    sent = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        # Send what the rate allows up to now, then sleep briefly; this keeps the rate even.
        due = int(elapsed * rate) if rate else sent + 200
        while sent < due:
            sock.sendto(datagrams[sent % 101], target)
            sent += 1
        if rate:
            time.sleep(0.0005)
    print(json.dumps({"sent": sent, "seconds": time.perf_counter() - started}))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_phase(app, server, label: str, rate: float | None, seconds: float) -> dict:
    """Step the kiosk while a sender process floods it (or for `seconds` with no sender)."""
    frame_times: list[float] = []
    app.on_frame.append(frame_times.append)
    read_before = server.counters["datagrams"]
    flood_before = server.counters["flood_dropped"]
    dropped_before = app.bus.dropped

    sender = None
    if rate is not None:
        sender = subprocess.Popen([sys.executable, __file__, "--send", str(server.port), str(rate), str(seconds)],
                                  stdout=subprocess.PIPE, text=True)
    started = time.monotonic()
    while (sender.poll() is None) if sender else (time.monotonic() - started < seconds):
        app.step()
    flood_frames = list(frame_times)
    # Let the server read what is still in the socket's buffer.
    settle = time.monotonic()
    while time.monotonic() - settle < 1.0:
        app.step()
    app.on_frame.remove(frame_times.append)

    summary = json.loads(sender.stdout.read()) if sender else {"sent": 0, "seconds": seconds}
    read = server.counters["datagrams"] - read_before
    sent = summary["sent"]
    result = {
        "phase": label,
        "sent": sent,
        "read": read,
        "loss_percent": 100.0 * (sent - read) / sent if sent else 0.0,
        "read_per_s": read / summary["seconds"],
        "flood_dropped": server.counters["flood_dropped"] - flood_before,
        "bus_dropped": app.bus.dropped - dropped_before,
        "frames": len(flood_frames),
        "frame_mean_ms": 1000 * sum(flood_frames) / len(flood_frames),
        "frame_p99_ms": 1000 * percentile(flood_frames, 0.99),
        "frame_max_ms": 1000 * max(flood_frames),
    }
    return result


def print_result(result: dict) -> None:
    print(f"{result['phase']:>12}: sent {result['sent']:7d}  read {result['read']:7d}  "
          f"loss {result['loss_percent']:5.2f} %  read {result['read_per_s']:7.0f}/s  "
          f"over host limit {result['flood_dropped']:6d}  bus dropped {result['bus_dropped']:6d}  frames {result['frames']:4d}  "
          f"mean {result['frame_mean_ms']:5.2f} ms  p99 {result['frame_p99_ms']:5.2f} ms  "
          f"max {result['frame_max_ms']:6.2f} ms", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each flood, in seconds (default 10)")
    parser.add_argument("--rates", type=float, nargs="+", default=[1000, 5000],
                        help="flood rates to measure, in messages per second (default 1000 5000)")
    parser.add_argument("--size", default="1280x720", help="window size in pixels, WIDTHxHEIGHT (default 1280x720)")
    args = parser.parse_args()

    from installation.app import App
    from installation.archive import Archive
    from installation.cli.run_command import add_services
    from installation.config import load_settings
    from installation.demo import demo_photo
    from installation.logs import configure_logging
    from installation.osc import OscServer

    configure_logging("WARNING")
    width, height = (int(side) for side in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(overrides=[f"archive.path={json.dumps(folder)}", "display.fullscreen=false",
                                            "osc.host=127.0.0.1", "osc.port=0", "capture.source=none"])
        with Archive(settings.archive_dir(), settings.archive) as archive:
            archive.add_painting(demo_photo(640, 480), title="Demo", demo=True)
        app = App(settings, settings.archive_dir(), size=(width, height), use_worker=False)
        add_services(app)
        app.start()
        (server,) = [service for service in app.services if isinstance(service, OscServer)]
        try:
            run_phase(app, server, "warm-up", None, 3.0)
            print_result(run_phase(app, server, "no flood", None, 5.0))
            for rate in args.rates:
                print_result(run_phase(app, server, f"{rate:.0f}/s", rate, args.seconds))
            print_result(run_phase(app, server, "max rate", 0, 5.0))
        finally:
            app.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--send":
        send_flood(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(main())
