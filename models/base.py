"""The interface every network implements, and what networks share.

A network makes children from a parent image. Images cross this interface as
numpy arrays, HxWx3 uint8 RGB, never as tensors, so callers need not import
torch.

A subclass sets `name`, `version` and `abilities` and implements
`_generate`. A network with `abilities.needs_training` also implements
`train` and `load`, and one with `abilities.has_latent` also implements
`reconstruct` and `decode`.

The public methods here check their inputs and then call the subclass, so
every network rejects a bad image with the same message.
"""

from __future__ import annotations

import io
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from installation.config import Settings
from installation.texts import TwowayError

MIN_INPUT_SIDE = 16  # pixels; a smaller image has no patches or scales to learn from

# A progress report: fraction done (0 to 1), a short stage name, and optionally
# the image as it forms (HxWx3 uint8).
ProgressCallback = Callable[[float, str, "np.ndarray | None"], None]


class Cancelled(Exception):
    """Raised inside a network when its caller asked it to stop."""


@dataclass(frozen=True)
class Abilities:
    """The capabilities of a network, as listed by `twoway networks`."""

    needs_training: bool  # generate needs a checkpoint made by `train` first
    has_latent: bool  # reconstruct, decode and interpolate work
    has_scales: bool = False  # children can vary from a chosen scale up (`vary_from`)
    description: str = ""  # one English line for the command line


@dataclass
class Latent:
    """A point in a network's latent space: named arrays, stored as one .npz file.

    Arrays named in `gaussian` hold standard normal noise, so `interpolate`
    moves along a great circle between them; the others are interpolated linearly.
    """

    arrays: dict[str, np.ndarray]
    gaussian: frozenset[str] = field(default_factory=frozenset)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        names = np.array(sorted(self.gaussian), dtype=np.str_)
        np.savez_compressed(buffer, __gaussian__=names, **self.arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Latent":
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files if name != "__gaussian__"}
            gaussian = frozenset(str(name) for name in stored["__gaussian__"])
        return cls(arrays, gaussian)


@dataclass
class Child:
    """One generated image with what is needed to make it again."""

    image: np.ndarray  # HxWx3 uint8 RGB
    seed: int
    latent: Latent | None = None
    extra: dict = field(default_factory=dict)  # network-specific provenance, JSON-safe


class Progress:
    """Progress reports and cancellation for one call, passed down into a network.

    `report` forwards to the callback; `check` raises `Cancelled` when the
    caller's `cancelled()` returns true. `part(start, end)` gives a Progress
    whose 0..1 maps onto start..end of this one, for one child of several.
    """

    def __init__(self, callback: ProgressCallback | None = None,
                 cancelled: Callable[[], bool] | None = None,
                 start: float = 0.0, end: float = 1.0):
        self._callback = callback
        self._cancelled = cancelled
        self._start = start
        self._end = end

    def report(self, fraction: float, stage: str, preview: np.ndarray | None = None) -> None:
        self.check()
        if self._callback is not None:
            fraction = min(max(float(fraction), 0.0), 1.0)
            self._callback(self._start + fraction * (self._end - self._start), stage, preview)

    def check(self) -> None:
        if self._cancelled is not None and self._cancelled():
            raise Cancelled()

    def part(self, start: float, end: float) -> "Progress":
        span = self._end - self._start
        return Progress(self._callback, self._cancelled,
                        self._start + start * span, self._start + end * span)


class Network(ABC):
    """A network that makes children of a parent image.

    `settings` is the whole `Settings`, so each network reads its own section;
    `device` is "cpu" or "cuda".
    """

    name: ClassVar[str]
    version: ClassVar[str]
    abilities: ClassVar[Abilities]

    def __init__(self, settings: Settings, device: str = "cpu"):
        self.settings = settings
        self.device = device

    # --- generation ------------------------------------------------------------------

    def generate(self, parent: np.ndarray, count: int = 1, seed: int = 0,
                 side: int | None = None, progress: Progress | None = None) -> list[Child]:
        """Make `count` children of `parent`, child i from seed `seed + i`.

        `side` is the long side of the children in pixels (default
        `networks.output_side`); the parent's aspect ratio is kept. The same
        seed on the same device gives the same child. Raises `TwowayError` for
        an unusable parent and `Cancelled` when `progress` is cancelled.
        """
        parent = check_image(parent, self.settings.networks.max_input_pixels)
        side = side or self.settings.networks.output_side
        if not 1 <= count <= self.settings.networks.max_children:
            raise TwowayError("networks.bad_count", count=count,
                              maximum=self.settings.networks.max_children)
        if side < MIN_INPUT_SIDE:
            raise TwowayError("networks.bad_side", side=side, minimum=MIN_INPUT_SIDE)
        progress = progress or Progress()

        children = []
        for index in range(count):
            part = progress.part(index / count, (index + 1) / count)
            child = self._generate(parent, seed + index, side, part)
            children.append(child)
        progress.report(1.0, "done")
        return children

    @abstractmethod
    def _generate(self, parent: np.ndarray, seed: int, side: int, progress: Progress) -> Child:
        """Make one child of a checked parent (HxWx3 uint8) with its long side `side` pixels."""

    # --- training ----------------------------------------------------------------------

    def train(self, images: Sequence[np.ndarray], checkpoint: Path,
              progress: Progress | None = None) -> Path:
        """Train on `images`, saving to `checkpoint` as it goes and resuming from it if present.

        Returns the checkpoint path. A network without training raises `TwowayError`.
        """
        raise TwowayError("networks.no_training", network=self.name)

    def load(self, checkpoint: Path) -> None:
        """Load weights written by `train`; a network without training ignores it."""

    # --- latent space ------------------------------------------------------------------

    def reconstruct(self, image: np.ndarray, progress: Progress | None = None) -> Latent:
        """Return a latent that decodes to (about) `image`."""
        raise TwowayError("networks.no_latent", network=self.name)

    def decode(self, latent: Latent, side: int | None = None) -> np.ndarray:
        """Return the image (HxWx3 uint8) of a latent."""
        raise TwowayError("networks.no_latent", network=self.name)

    def check_latent(self, latent: Latent) -> None:
        """Raise `TwowayError` when `decode` cannot take `latent`; this default accepts any latent."""

    def interpolate(self, start: Latent, end: Latent, t: float) -> Latent:
        """Return the latent a fraction `t` (0 to 1) of the way from `start` to `end`."""
        if not self.abilities.has_latent:
            raise TwowayError("networks.no_latent", network=self.name)
        return interpolate_latents(start, end, t)


# --- helpers shared by networks ------------------------------------------------------------

def check_image(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """Return `image` as a contiguous HxWx3 uint8 array, or raise `TwowayError` saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise TwowayError("networks.bad_image_type", type=type(image).__name__)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        raise TwowayError("networks.grayscale_image", shape=image.shape)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise TwowayError("networks.bad_image_shape", shape=image.shape)
    if image.shape[2] == 4:
        raise TwowayError("networks.alpha_image", shape=image.shape)
    if image.dtype != np.uint8:
        raise TwowayError("networks.bad_image_dtype", dtype=str(image.dtype))
    height, width = image.shape[:2]
    if min(height, width) < MIN_INPUT_SIDE:
        raise TwowayError("networks.image_too_small", width=width, height=height,
                          minimum=MIN_INPUT_SIDE)
    if height * width > max_pixels:
        raise TwowayError("networks.image_too_large", width=width, height=height,
                          maximum=max_pixels)
    return np.ascontiguousarray(image)


def fit_side(height: int, width: int, side: int) -> tuple[int, int]:
    """Return (height, width) scaled so the long side is `side` pixels, aspect kept."""
    scale = side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def slerp(start: np.ndarray, end: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between two arrays of Gaussian noise, treated as flat vectors.

    Walking the great circle keeps the norm of the noise about constant, which
    a straight line does not (its midpoint has about 0.7 times the norm).
    """
    a = start.astype(np.float64).ravel()
    b = end.astype(np.float64).ravel()
    cosine = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = math.acos(min(max(cosine, -1.0), 1.0))
    if omega < 1e-6:
        mixed = (1.0 - t) * a + t * b
    else:
        mixed = (math.sin((1.0 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)
    return mixed.reshape(start.shape).astype(start.dtype)


def interpolate_latents(start: Latent, end: Latent, t: float) -> Latent:
    """Interpolate every array of two latents of the same layout: slerp for noise, else linear."""
    if start.arrays.keys() != end.arrays.keys():
        raise TwowayError("networks.latent_mismatch", first=sorted(start.arrays),
                          second=sorted(end.arrays))
    mixed = {}
    for name, first in start.arrays.items():
        second = end.arrays[name]
        if first.shape != second.shape:
            raise TwowayError("networks.latent_mismatch", first=f"{name} {first.shape}",
                              second=f"{name} {second.shape}")
        if name in start.gaussian:
            mixed[name] = slerp(first, second, t)
        else:
            mixed[name] = ((1.0 - t) * first + t * second).astype(first.dtype)
    return Latent(mixed, start.gaussian)
