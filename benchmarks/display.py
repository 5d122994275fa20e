"""Measure the kiosk loop headless: frame times, work per frame, CPU share and memory.

Runs the real `App` with SDL's dummy video driver at 1920x1080 on a temporary
archive: the demo painting plus the test paintings as its children. The
genealogy walk morphs, the visitor's button is pressed every few seconds, and
the worker makes children when the worker part is installed. Prints:

  mean fps, frame time p50 / p99 / max, frames over 33 ms,
  work per frame (update and draw, without the wait) p50 / p99,
  the display process's CPU share, and its RSS at start, after 1 minute and at the end.

Usage:
  .venv/bin/python benchmarks/display.py --minutes 5
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAINTINGS = ROOT.parent / "shared" / "paintings"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the run, in minutes (default 5)")
    parser.add_argument("--size", default="1920x1080", help="screen size in pixels (default 1920x1080)")
    parser.add_argument("--press-every", type=float, default=8.0,
                        help="seconds between presses of the visitor button (default 8)")
    parser.add_argument("--no-worker", action="store_true",
                        help="run without the worker process (morphs render in a thread of the display)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile the update and draw of every frame with cProfile and print the N "
                             "functions with the most CPU time (default 0: no profile)")
    return parser.parse_args()


def build_archive(folder: Path):
    from installation.archive import Archive
    from installation.demo import demo_photo

    with Archive(folder) as archive:
        demo = archive.add_painting(demo_photo(), title="Demo", demo=True)
        for path in sorted(PAINTINGS.glob("*.jpg"))[:4]:
            archive.import_photo(path, parents=[demo.id])


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def main() -> int:
    args = parse_args()
    import psutil
    import pygame

    from installation.app import App
    from installation.config import load_settings

    width, height = (int(n) for n in args.size.split("x"))
    folder = Path(tempfile.mkdtemp(prefix="twoway-display-bench-"))
    build_archive(folder)
    settings = load_settings(overrides=["display.fullscreen=false", "display.hold_s=4", "display.morph_s=5",
                                        "visitor.per_minute=60", "osc.enabled=false"])
    app = App(settings, folder, size=(width, height), use_worker=not args.no_worker)
    process = psutil.Process()

    frame_times: list[float] = []
    work_times: list[float] = []
    app.on_frame.append(lambda frame_time: (frame_times.append(frame_time), work_times.append(app.last_work_s)))

    app.start()
    # Thread CPU time of the update and draw, per frame: unlike wall time, other load barely changes it.
    frame_cpu = [0.0]
    update, draw = app._update, app._draw
    app._update = lambda *a: _thread_timed(frame_cpu, update, *a)
    app._draw = lambda *a: _thread_timed(frame_cpu, draw, *a)
    profiler = None
    if args.profile:
        import cProfile

        # CPU time per function is meaningful even on a loaded machine, unlike wall time.
        profiler = cProfile.Profile(time.process_time)
        timed_update, timed_draw = app._update, app._draw
        app._update = lambda *a: _profiled(profiler, timed_update, *a)
        app._draw = lambda *a: _profiled(profiler, timed_draw, *a)
    work_cpu: list[float] = []
    rss_start = process.memory_info().rss
    cpu_start = process.cpu_times()
    started = time.monotonic()
    rss_minute = None
    next_press = started + args.press_every
    duration = args.minutes * 60
    while app.running and time.monotonic() - started < duration:
        now = time.monotonic()
        if now >= next_press:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0))
            next_press = now + args.press_every
        if rss_minute is None and now - started >= 60:
            rss_minute = process.memory_info().rss
        frame_cpu[0] = 0.0
        app.step()
        work_cpu.append(frame_cpu[0])
    elapsed = time.monotonic() - started
    cpu_end = process.cpu_times()
    rss_end = process.memory_info().rss
    received = app.morphs.frames_received
    worker = "worker process" if app.worker is not None else "no worker (morphs in a display thread)"
    app.stop()
    shutil.rmtree(folder, ignore_errors=True)

    cpu = (cpu_end.user + cpu_end.system - cpu_start.user - cpu_start.system) / elapsed
    milliseconds = [t * 1000 for t in frame_times]
    work = [t * 1000 for t in work_times]
    print(f"run: {elapsed / 60:.1f} min at {width}x{height}, {worker}, button every {args.press_every:.0f} s")
    print(f"frames: {len(frame_times)}   mean fps: {len(frame_times) / elapsed:.1f}")
    print(f"frame time ms: p50 {statistics.median(milliseconds):.1f}   p99 {percentile(milliseconds, 99):.1f}"
          f"   max {max(milliseconds):.1f}   over 33 ms: {sum(t > 33 for t in milliseconds)}")
    print(f"work per frame ms: p50 {statistics.median(work):.2f}   p99 {percentile(work, 99):.2f}"
          f"   max {max(work):.1f}")
    cpu_ms = [t * 1000 for t in work_cpu]
    print(f"work per frame, CPU time of the display thread ms: p50 {statistics.median(cpu_ms):.2f}"
          f"   p99 {percentile(cpu_ms, 99):.2f}   max {max(cpu_ms):.1f}")
    print(f"display process CPU: {cpu * 100:.0f}% of one core")
    minute = f"{rss_minute / 1e6:.0f} MB" if rss_minute else "n/a (run under a minute)"
    print(f"RSS: start {rss_start / 1e6:.0f} MB   after 1 min {minute}   end {rss_end / 1e6:.0f} MB")
    if rss_minute:
        print(f"RSS change from minute 1 to the end: {(rss_end - rss_minute) / rss_minute * 100:+.1f}%")
    print(f"morph frames received: {received}")
    if profiler is not None:
        stats = pstats.Stats(profiler)
        print(f"CPU time of update and draw over {len(frame_times)} frames: {stats.total_tt:.2f} s "
              f"({stats.total_tt / max(1, len(frame_times)) * 1000:.2f} ms per frame)")
        stats.sort_stats("tottime").print_stats(args.profile)
    return 0


def _thread_timed(total: list[float], function, *args):
    started = time.thread_time()
    try:
        return function(*args)
    finally:
        total[0] += time.thread_time() - started


def _profiled(profiler, function, *args):
    profiler.enable()
    try:
        return function(*args)
    finally:
        profiler.disable()


if __name__ == "__main__":
    sys.exit(main())
