"""Make the pictures of the guides from the real program: screenshots and reference sheets.

The script builds a small demonstration archive in a scratch folder: two
photographed paintings, two children made by the "patches" network and one
grandchild. Then it runs `twoway screenshot` for each scene and `twoway
reference` for a child, in Spanish and English. The results go to docs/img/,
reduced to at most 960 pixels wide.

    .venv/bin/python docs/make_images.py PAINTING.jpg PAINTING.jpg [--scratch DIR]

It takes a few minutes on a CPU, most of it in the network.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "img"
MAX_WIDTH = 960  # pixels
SCENES = ("walk", "tree", "generating", "status")
CHILD_SIDE = 384  # long side of the demonstration children, in pixels


def twoway(config: Path, *arguments: str) -> str:
    command = [sys.executable, "-m", "installation", "--config", str(config), *arguments]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    return result.stdout


def build_archive(folder: Path, paintings: list[Path]) -> tuple[Path, int]:
    """Create the demonstration archive; return its settings file and the id of a child."""
    import numpy as np

    from installation.archive import Archive
    from installation.config import load_settings
    from models.registry import get_network

    config = folder / "config.toml"
    config.write_text('[archive]\npath = "archive"\n[display]\nfullscreen = false\n'
                      '[capture]\nsource = "none"\n[osc]\nenabled = false\n', encoding="utf-8")
    for painting in paintings:
        twoway(config, "import", str(painting))

    settings = load_settings(config)
    network = get_network("patches", settings, "cpu")
    with Archive(settings.archive_dir(), settings.archive) as archive:
        first = archive.node(1)
        parent = np.asarray(archive.load_image(first))
        children = []
        for child in network.generate(parent, count=2, seed=11, side=CHILD_SIDE):
            children.append(add_child(archive, first.id, child))
        grandchild = network.generate(np.asarray(archive.load_image(archive.node(children[0]))),
                                      count=1, seed=23, side=CHILD_SIDE)[0]
        add_child(archive, children[0], grandchild)
        archive.set_flag(children[0], "chosen", True)
        archive.set_title(children[0], "Noche de marzo")
    return config, children[0]


def add_child(archive, parent_id: int, child) -> int:
    latent = child.latent.to_bytes() if child.latent is not None else None
    node = archive.add_machine_image(Image.fromarray(child.image), [parent_id], network="patches",
                                     version="demo", seed=child.seed, latent=latent, extra=child.extra)
    return node.id


def save_reduced(source: Path, target: Path, palette: bool) -> None:
    """Save `source` at most MAX_WIDTH wide; with `palette`, in 256 dithered colours.

    A 256-colour screenshot is about a quarter of the size. Reference sheets keep
    every colour, because their swatches must show the hex values printed under them.
    """
    with Image.open(source) as image:
        picture = image.convert("RGB")
    if picture.width > MAX_WIDTH:
        height = round(picture.height * MAX_WIDTH / picture.width)
        picture = picture.resize((MAX_WIDTH, height), Image.Resampling.LANCZOS)
    if palette:
        picture = picture.quantize(256, method=Image.Quantize.MEDIANCUT,
                                   dither=Image.Dither.FLOYDSTEINBERG)
    picture.save(target, optimize=True)
    print(f"{target.relative_to(ROOT)}: {picture.width}x{picture.height}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paintings", nargs=2, type=Path, metavar="PAINTING",
                        help="two photos of paintings (JPEG, PNG, ...)")
    parser.add_argument("--scratch", type=Path, help="folder for the archive (default: a temporary one)")
    args = parser.parse_args()

    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="twoway-docs-"))
    scratch.mkdir(parents=True, exist_ok=True)
    config, child = build_archive(scratch, args.paintings)
    IMAGES.mkdir(parents=True, exist_ok=True)

    for language in ("es", "en"):
        for scene in SCENES:
            raw = scratch / f"{scene}-{language}.png"
            twoway(config, "--set", f"general.language={language}", "screenshot", scene, str(raw),
                   "--node", str(child), "--size", "1920x1080", "--language", language)
            save_reduced(raw, IMAGES / f"{scene}-{language}.png", palette=True)
        sheet = scratch / f"reference-sheet-{language}.png"
        twoway(config, "--set", f"general.language={language}", "--set", "reference.dpi=100",
               "reference", str(child), "--canvas", "50x70cm", "--grid", "5cm", "--out", str(sheet))
        save_reduced(sheet, IMAGES / f"reference-sheet-{language}.png", palette=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
