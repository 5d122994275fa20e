"""Time from SIGTERM to exit of the real kiosk, as systemd stops it (target: under 5 seconds).

Starts `twoway run` headless on a small archive of test paintings and waits for
READY=1 and an idle worker (with --busy, also for a visitor generation to start).
Then it sends SIGTERM to the main process only, as `KillMode=mixed` does, and
measures until the process exits. It also reports any process of the kiosk still
running after it.

    .venv/bin/python benchmarks/stop_time.py --runs 5
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAINTINGS = ROOT.parent / "shared" / "paintings"

from pythonosc.osc_message_builder import OscMessageBuilder  # noqa: E402

from installation.archive import Archive  # noqa: E402
from tests.ops.kiosk import Kiosk, alive  # noqa: E402


def start_generation(kiosk: Kiosk) -> None:
    """Press the visitor button over OSC once the kiosk's OSC port is in its log."""
    deadline = time.monotonic() + 30
    while not (match := re.search(r"OSC server started on 127\.0\.0\.1:(\d+)", kiosk.log())):
        if time.monotonic() > deadline:
            raise SystemExit("the kiosk started no OSC server")
        time.sleep(0.2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(OscMessageBuilder("/twoway/generate").build().dgram, ("127.0.0.1", int(match.group(1))))
    time.sleep(2.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="kiosk starts and stops to time (default 5)")
    parser.add_argument("--busy", action="store_true", help="stop while a visitor generation runs")
    parser.add_argument("--starting", action="store_true",
                        help="stop right after READY=1, while the worker may still be starting")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="twoway-stop-"))
    with Archive(folder / "archive") as archive:
        archive.import_photo(sorted(PAINTINGS.glob("*.jpg"))[0])

    times, leftovers = [], 0
    for run in range(args.runs):
        kiosk = Kiosk(folder, folder / "archive").start()
        try:
            kiosk.wait_for("READY=1")
            if not args.starting:
                kiosk.wait_for_text("worker idle")
            if args.busy:
                start_generation(kiosk)
            processes = kiosk.tree()
            started = time.monotonic()
            kiosk.signal(signal.SIGTERM)
            code = kiosk.wait(timeout=60)
            times.append(time.monotonic() - started)
            remaining = alive(processes)
            leftovers += len(remaining)
            print(f"run {run + 1}: exit status {code}, stopped in {times[-1]:.2f} s, "
                  f"{len(processes)} processes, {len(remaining)} left running", flush=True)
        finally:
            kiosk.close()
    shutil.rmtree(folder, ignore_errors=True)
    print(f"SIGTERM to exit: median {statistics.median(times):.2f} s, max {max(times):.2f} s; "
          f"processes left running: {leftovers}")
    return 0 if max(times) < 5.0 and leftovers == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
