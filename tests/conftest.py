"""Shared test set-up: headless pygame, no GPU, and paths to the shared test paintings."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

ROOT = Path(__file__).resolve().parent.parent
PAINTINGS = ROOT.parent / "shared" / "paintings"


def painting_paths() -> list[Path]:
    return sorted(PAINTINGS.glob("*.jpg"))


@pytest.fixture
def paintings() -> list[Path]:
    paths = painting_paths()
    assert paths, f"no test paintings found in {PAINTINGS}"
    return paths


@pytest.fixture
def archive(tmp_path):
    from installation.archive import Archive

    with Archive(tmp_path / "archive") as opened:
        yield opened
