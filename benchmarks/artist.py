"""Measure reference sheets and morph videos: seconds per sheet, video frames per second.

A child of each of two shared paintings is made by rotating and resizing the
painting (no network, so the figures are of this code alone). For each child
the script times an A4 reference sheet for a 50 x 70 cm canvas with a 5 cm grid,
as PDF and as PNG, at the default 200 dpi, then a morph video from the painting
to the child at the default 1080x1080, 30 fps, 4 s morph and 1.5 s holds.

    .venv/bin/python benchmarks/artist.py [--size 1080x1080]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from installation.archive import Archive  # noqa: E402
from installation.config import Settings  # noqa: E402
from installation.reference import make_reference_sheet  # noqa: E402
from installation.video import parse_video_size, render_node_video  # noqa: E402

PAINTINGS = ROOT.parent / "shared" / "paintings"
NAMES = ("vangogh_starry_night_1889.jpg", "turner_the_shipwreck_1805.jpg")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1080x1080", help="video frame size, WxH pixels")
    args = parser.parse_args()
    size = parse_video_size(args.size)
    settings = Settings()

    with tempfile.TemporaryDirectory() as scratch, Archive(Path(scratch) / "archive") as archive:
        for name in NAMES:
            painting = archive.import_photo(PAINTINGS / name)
            picture = archive.load_image(painting)
            picture.thumbnail((512, 512))
            child = archive.add_machine_image(picture.rotate(180), [painting.id], network="patches",
                                              version="bench", seed=0)

            for suffix in ("pdf", "png"):
                out = Path(scratch) / f"{child.id}.{suffix}"
                start = time.perf_counter()
                make_reference_sheet(archive, child.id, settings, canvas_cm=(50, 70), grid_cm=5,
                                     out=out)
                seconds = time.perf_counter() - start
                print(f"{name}: reference sheet {suffix.upper()} {seconds:.2f} s, "
                      f"{out.stat().st_size / 1e6:.1f} MB")

            start = time.perf_counter()
            summary = render_node_video(archive, [painting.id, child.id],
                                        Path(scratch) / f"{child.id}.mp4", settings.video, size)
            seconds = time.perf_counter() - start
            print(f"{name}: video {summary.width}x{summary.height}, {summary.frames} frames in "
                  f"{seconds:.1f} s = {summary.frames / seconds:.1f} frames/s, "
                  f"{summary.path.stat().st_size / 1e6:.1f} MB")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak_mb:.0f} MB (ffmpeg runs as its own process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
