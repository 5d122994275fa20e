"""Measure canvas detection on synthetic photos: Jaccard index and time per frame.

Each shared painting is photographed onto generated walls and easels (see
installation/capture/synthetic.py) at 1920x1080, with random perspective,
canvas size, light, colour cast, glare, a hand, noise and blur. The script
prints the mean and worst Jaccard index between the found and the true canvas,
measured in the canvas's own frame as in the SmartDoc 2015 challenge, and the
detection time per frame.

    .venv/bin/python benchmarks/capture.py [--photos 100] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from installation.capture.canvas import detect_canvas  # noqa: E402
from installation.capture.synthetic import jaccard_in_canvas_frame, place_painting  # noqa: E402

PAINTINGS = ROOT.parent / "shared" / "paintings"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100, help="number of synthetic photos (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the photos (default 1)")
    parser.add_argument("--worst", type=int, default=5, help="list this many worst photos (default 5)")
    parser.add_argument("--save", type=Path, default=None, help="folder to write the worst photos into")
    args = parser.parse_args()

    cv2.setNumThreads(1)
    paintings = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(PAINTINGS.glob("*.jpg"))]
    rng = np.random.default_rng(args.seed)
    scores, times, cpu_times, results = [], [], [], []
    for number in range(args.photos):
        painting = paintings[number % len(paintings)]
        photo = place_painting(painting, rng)
        started, cpu_started = time.perf_counter(), time.process_time()
        detection = detect_canvas(photo.image)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        size = (painting.shape[1], painting.shape[0])
        score = jaccard_in_canvas_frame(photo.corners, detection.corners, size) if detection.found else 0.0
        scores.append(score)
        results.append((score, number, photo, detection))

    scores, times, cpu_times = np.array(scores), np.array(times) * 1000, np.array(cpu_times) * 1000
    print(f"photos: {args.photos} at 1920x1080, seed {args.seed}")
    print(f"Jaccard index: mean {scores.mean():.4f}, worst {scores.min():.4f}, "
          f"median {np.median(scores):.4f}, below 0.9: {int((scores < 0.9).sum())}")
    print(f"detection time per frame: mean {times.mean():.1f} ms, median {np.median(times):.1f} ms, "
          f"95th percentile {np.percentile(times, 95):.1f} ms, max {times.max():.1f} ms")
    print(f"processor time per frame (one thread): mean {cpu_times.mean():.1f} ms, "
          f"median {np.median(cpu_times):.1f} ms")
    for score, number, photo, detection in sorted(results, key=lambda r: r[0])[:args.worst]:
        print(f"  photo {number}: Jaccard {score:.3f}, confidence {detection.confidence:.2f}, "
              f"{photo.description} {detection.reason}")
        if args.save:
            _save(args.save, number, photo, detection)
    return 0


def _save(folder: Path, number: int, photo, detection) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image = cv2.cvtColor(photo.image, cv2.COLOR_RGB2BGR)
    cv2.polylines(image, [np.round(photo.corners).astype(np.int32)], True, (0, 255, 0), 2)
    if detection.found:
        cv2.polylines(image, [np.round(detection.corners).astype(np.int32)], True, (0, 0, 255), 2)
    cv2.imwrite(str(folder / f"photo-{number:03d}.jpg"), image)


if __name__ == "__main__":
    sys.exit(main())
