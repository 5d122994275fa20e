"""Time the patch network and measure the quality of its children.

For each painting it makes `--children` children at `--side` pixels and prints
the seconds per child: wall time, and CPU time (user + system of this process
and its children), which other work on a shared machine inflates far less. The first child includes building the parent's pyramid
and search indexes, which later children reuse. It also prints the peak memory
of this process and, with `--metrics`, the quality measures of models/metrics.py:

- patch SWD from each child to its parent, and from each other painting to
  that parent; target: the worst child at least twice as near as the nearest
  other painting;
- pixel diversity across the children; target: at least 0.3;
- the largest region copied verbatim from the parent; target: at most 0.25.

Run one size per process, so the peak memory belongs to that size:

    .venv/bin/python benchmarks/generate.py --side 512 --metrics
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from installation.config import load_settings  # noqa: E402
from models import metrics  # noqa: E402
from models.registry import get_network, resolve_device  # noqa: E402

PAINTINGS = ROOT.parent / "shared" / "paintings"
LOAD_SIDE = 1024  # paintings are scaled to this long side before use, like stored parents


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=512, help="long side of the children, in pixels")
    parser.add_argument("--children", type=int, default=8, help="children per painting")
    parser.add_argument("--network", default="patches", help="network name")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch and faiss threads; 0 keeps the default")
    parser.add_argument("--metrics", action="store_true", help="also compute the quality measures")
    parser.add_argument("--paintings", type=Path, default=PAINTINGS, help="folder of JPEG paintings")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="measure only the painting whose file name contains NAME; repeatable")
    parser.add_argument("--save", type=Path, default=None, help="folder to write the children to")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        metavar="SECTION.KEY=VALUE", help="override one setting; repeatable")
    args = parser.parse_args()

    settings = load_settings(None, args.overrides)
    device = resolve_device(args.device)
    if args.threads:
        set_threads(args.threads)
    network = get_network(args.network, settings, device)
    paths = sorted(args.paintings.glob("*.jpg"))
    images = {path.stem: load_painting(path) for path in paths}
    print(f"network {args.network}, device {device}, side {args.side} px, {args.children} children, "
          f"{len(paths)} paintings, torch threads {torch_threads()}")

    failures = 0
    measured = [name for name in images if not args.only or any(part in name for part in args.only)]
    for name in measured:
        parent = images[name]
        children, seconds, cpu_seconds = make_children(network, parent, args.children, args.side)
        later = seconds[1:] or seconds
        later_cpu = cpu_seconds[1:] or cpu_seconds
        print(f"{name}: first child {seconds[0]:.2f} s wall, {cpu_seconds[0]:.2f} s CPU; "
              f"later children {np.mean(later):.2f} s wall mean, {max(later):.2f} s max, "
              f"{np.mean(later_cpu):.2f} s CPU mean, {max(later_cpu):.2f} s max")
        if args.save:
            save_children(args.save, name, children)
        if args.metrics:
            failures += print_quality(name, parent, children, images)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of this process): {peak_mb:.0f} MB")
    if args.metrics:
        print("all quality targets met" if failures == 0 else f"{failures} quality targets missed")
    return 0


def load_painting(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((LOAD_SIDE, LOAD_SIDE), Image.Resampling.LANCZOS)
        return np.asarray(image)


def make_children(network, parent: np.ndarray, count: int,
                  side: int) -> tuple[list[np.ndarray], list[float], list[float]]:
    """Make children from seeds 0..count-1; return them, their wall seconds and their CPU seconds."""
    children, seconds, cpu_seconds = [], [], []
    for seed in range(count):
        start = time.perf_counter()
        cpu_start = cpu_time()
        child = network.generate(parent, count=1, seed=seed, side=side)[0]
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(cpu_time() - cpu_start)
        children.append(child.image)
    return children, seconds, cpu_seconds


def cpu_time() -> float:
    """Return the user + system seconds of this process and of its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def print_quality(name: str, parent: np.ndarray, children: list[np.ndarray],
                  images: dict[str, np.ndarray]) -> int:
    """Print the quality measures of one parent's children; return how many targets were missed."""
    others = [image for other, image in images.items() if other != name]
    to_parent, nearest_other = metrics.nearness(children, parent, others)
    diversity = metrics.pixel_diversity(children, parent)
    copies = [metrics.largest_copy(child, parent) for child in children]

    ratio = nearest_other / max(max(to_parent), 1e-9)
    missed = int(ratio < 2) + int(diversity < 0.3) + int(max(copies) > 0.25)
    print(f"  SWD child->parent {np.mean(to_parent):.2f} mean, {max(to_parent):.2f} max; "
          f"nearest other painting {nearest_other:.2f} (ratio {ratio:.1f}, target >= 2)")
    print(f"  diversity {diversity:.2f} (target >= 0.3); largest copied region "
          f"{max(copies):.3f} of the area (target <= 0.25)")
    return missed


def save_children(folder: Path, name: str, children: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed, child in enumerate(children):
        Image.fromarray(child).save(folder / f"{name}-{seed}.png")


def set_threads(count: int) -> None:
    import faiss
    import torch

    torch.set_num_threads(count)
    faiss.omp_set_num_threads(count)


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
