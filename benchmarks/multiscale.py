"""Measure the multiscale network: training time, decode speed, reconstruction, children and morphs.

Trains on one shared painting (resuming from the checkpoint in --out when one
exists), then prints:
- training time per scale and in total;
- decode speed, in frames per second at the model's size;
- reconstruction error: mean absolute error (0 to 1) of the reconstruction latent;
- children: patch sliced Wasserstein distance of each child to the parent, and
  of the nearest other painting to the parent (the ratio of the latter to the
  worst child should be at least 2), and the pixel diversity of the children;
- morph: along a 60-frame morph from the painting to a child, the largest
  frame-to-frame change over the mean change.

Run under `nice` on a shared machine, for example:
    nice .venv/bin/python benchmarks/multiscale.py --size 192 --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from installation.config import load_settings  # noqa: E402
from models.base import Progress  # noqa: E402
from models.metrics import nearness, pixel_diversity  # noqa: E402
from models.multiscale import MultiscaleNetwork, resize_image  # noqa: E402

PAINTINGS = ROOT.parent / "shared" / "paintings"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--painting", default="picabia_udnie_1913", help="file name without .jpg")
    parser.add_argument("--size", type=int, default=192, help="long side trained at, in pixels")
    parser.add_argument("--iterations", type=int, help="iterations of the finest scale (default: settings)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 keeps torch's default")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--children", type=int, default=6, help="children measured")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        metavar="SECTION.KEY=VALUE", help="override one setting; repeatable")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "multiscale",
                        help="folder of the checkpoint, samples and results")
    return parser.parse_args()


def load_painting(name: str) -> np.ndarray:
    return np.asarray(Image.open(PAINTINGS / f"{name}.jpg").convert("RGB"))


def train(network: MultiscaleNetwork, painting: np.ndarray, checkpoint: Path) -> float:
    bar = tqdm(total=1000, unit="‰", desc="training")

    def report(fraction: float, stage: str, preview) -> None:
        bar.update(round(fraction * 1000) - bar.n)
        bar.set_postfix_str(stage)

    started = time.monotonic()
    network.train([painting], checkpoint, Progress(report))
    bar.close()
    return time.monotonic() - started


def decode_speed(network: MultiscaleNetwork, frames: int = 40) -> float:
    latent = network.reconstruction_latent()
    network.decode(latent)
    started = time.monotonic()
    for _ in range(frames):
        network.decode(latent)
    return frames / (time.monotonic() - started)


def morph_jumps(network: MultiscaleNetwork, start, end, frames: int = 60) -> float:
    images = [image.astype(np.float32) for image in network.morph(start, end, frames)]
    changes = np.array([np.abs(b - a).mean() for a, b in zip(images, images[1:])])
    return float(changes.max() / max(changes.mean(), 1e-9))


def main() -> int:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = load_settings(None, args.overrides)
    options = dataclasses.replace(settings.multiscale, size_cpu=args.size, size_gpu=args.size,
                                  iterations=args.iterations or settings.multiscale.iterations)
    settings = dataclasses.replace(settings, multiscale=options)
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / f"{args.painting}-{args.size}px.pt"

    network = MultiscaleNetwork(settings, args.device)
    painting = load_painting(args.painting)
    seconds = train(network, painting, checkpoint)
    stored = json.loads(checkpoint.with_suffix(".json").read_text())
    results = {"painting": args.painting, "size": args.size, "threads": torch.get_num_threads(),
               "iterations_finest": options.iterations, "sizes": stored["sizes"],
               "train_seconds_this_run": round(seconds, 1),
               "train_seconds_total": round(stored["elapsed_s"], 1),
               "seconds_per_scale": [entry["seconds"] for entry in stored["history"]]}

    results["decode_fps"] = round(decode_speed(network), 1)

    parent = network.decode(network.reconstruction_latent())
    target = resize_image(painting, args.size)
    results["reconstruction_mae"] = round(float(np.abs(parent / 255.0 - target / 255.0).mean()), 4)

    parent_latent = network.reconstruction_latent()
    results["vary_from_scale"] = options.vary_from_scale
    results["child_change"] = options.child_change
    started = time.monotonic()
    results["child_noise_gain"] = round(network.child_noise_gain(min(options.vary_from_scale,
                                                                     len(network.sizes) - 1)), 2)
    results["gain_seconds"] = round(time.monotonic() - started, 2)
    children = [network.generate_from_latent(parent_latent, seed) for seed in range(args.children)]
    images = [child.image for child in children]
    others = [load_painting(path.stem) for path in sorted(PAINTINGS.glob("*.jpg")) if path.stem != args.painting]
    to_parent, nearest_other = nearness(images, target, others)
    results["swd_to_parent_mean"] = round(float(np.mean(to_parent)), 2)
    results["swd_to_parent_max"] = round(float(max(to_parent)), 2)
    results["swd_nearest_other_to_parent"] = round(nearest_other, 2)
    results["swd_ratio"] = round(nearest_other / max(max(to_parent), 1e-9), 2)
    results["diversity"] = round(pixel_diversity(images, target), 3)
    results["morph_max_over_mean_change"] = round(morph_jumps(network, parent_latent, children[0].latent), 2)

    for index, image in enumerate(images):
        Image.fromarray(image).save(args.out / f"{args.painting}-{args.size}px-child-{index}.png")
    (args.out / f"{args.painting}-{args.size}px-results.json").write_text(json.dumps(results, indent=2))
    for key, value in results.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
