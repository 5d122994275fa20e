"""The demo painting: a landscape in layered brush strokes, made by the program itself.

It seeds an empty archive so the installation has something to show on a fresh
machine. The same seed gives the same pixels, so it is deterministic and no
third-party image is needed.
"""

from __future__ import annotations

import io
import logging

import cv2
import numpy as np
from PIL import Image

from installation.photo import Photo

log = logging.getLogger(__name__)

# An evening palette, RGB: sky, sun, far hills, near hills, field, dark accents.
PALETTE = {
    "sky_top": (38, 62, 122),
    "sky_low": (236, 164, 96),
    "sun": (252, 222, 140),
    "far_hill": (112, 92, 140),
    "mid_hill": (64, 98, 96),
    "field": (176, 132, 56),
    "field_dark": (98, 70, 40),
    "tree": (34, 48, 40),
}


def make_demo_painting(width: int = 1024, height: int = 768, seed: int = 1913) -> np.ndarray:
    """Paint the demo picture; returns (height, width, 3) uint8 RGB."""
    rng = np.random.default_rng(seed)
    composition = _composition(width, height, rng)
    # An underpainting: the composition softened, as a painter blocks in masses first.
    canvas = cv2.GaussianBlur(composition, (0, 0), sigmaX=width / 120)
    angle = _stroke_directions(composition, rng)

    # Three layers of strokes, broad to fine, each following the forms below it.
    for radius, density in ((width / 60, 0.7), (width / 130, 1.0), (width / 300, 0.6)):
        _paint_layer(canvas, composition, angle, radius, density, rng)

    return _canvas_texture(canvas, rng)


def demo_photo(width: int = 1024, height: int = 768) -> Photo:
    """The demo painting as a `Photo`, ready for `Archive.add_painting`."""
    pixels = make_demo_painting(width, height)
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return Photo(image=image, original=buffer.getvalue(), original_suffix=".png",
                 original_size=image.size)


def _composition(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Flat colour masses: sky gradient, sun, three hill bands, a field and trees."""
    y = np.linspace(0.0, 1.0, height)[:, None, None]
    horizon = 0.55
    top, low = np.array(PALETTE["sky_top"], float), np.array(PALETTE["sky_low"], float)
    sky_mix = np.clip(y / horizon, 0, 1) ** 1.6
    image = (top * (1 - sky_mix) + low * sky_mix) * np.ones((1, width, 1))

    sun = (int(width * 0.68), int(height * 0.42))
    cv2.circle(image, sun, int(height * 0.07), PALETTE["sun"], -1, cv2.LINE_AA)

    x = np.arange(width)
    bands = (("far_hill", 0.50, 0.05), ("mid_hill", 0.60, 0.06), ("field", 0.72, 0.03))
    for name, base, amplitude in bands:
        phase = rng.uniform(0, 2 * np.pi, 3)
        ridge = base + amplitude * (np.sin(x / width * 5.1 + phase[0])
                                    + 0.5 * np.sin(x / width * 11.3 + phase[1])
                                    + 0.25 * np.sin(x / width * 23.7 + phase[2]))
        points = np.stack([x, ridge * height], axis=1).astype(np.int32)
        polygon = np.concatenate([points, [[width - 1, height - 1], [0, height - 1]]])
        cv2.fillPoly(image, [polygon], PALETTE[name], cv2.LINE_AA)

    # Furrows in the field and a row of dark trees on the middle hill.
    for i in range(9):
        start = (int(width * (0.1 * i - 0.2)), height)
        end = (int(width * 0.5 + (i - 4) * width * 0.04), int(height * 0.74))
        cv2.line(image, start, end, PALETTE["field_dark"], max(2, width // 90), cv2.LINE_AA)
    for i in range(7):
        cx = int(width * (0.08 + 0.13 * i + rng.uniform(-0.03, 0.03)))
        cy = int(height * (0.60 + rng.uniform(-0.02, 0.02)))
        axes = (int(width * rng.uniform(0.015, 0.03)), int(height * rng.uniform(0.06, 0.11)))
        cv2.ellipse(image, (cx, cy - axes[1] // 2), axes, 0, 0, 360, PALETTE["tree"], -1, cv2.LINE_AA)
    return image.astype(np.float32)


def _stroke_directions(composition: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Angle per pixel (radians): along the edges of forms, swirled by smooth noise."""
    gray = cv2.cvtColor(composition.astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), 6)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    along_edges = np.arctan2(gy, gx) + np.pi / 2

    height, width = gray.shape
    noise = rng.normal(size=(height // 32 + 2, width // 32 + 2)).astype(np.float32)
    swirl = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    strength = np.clip(np.hypot(gx, gy) / 40.0, 0, 1)
    # Where there is no edge, strokes run mostly horizontal with a gentle swirl.
    return strength * along_edges + (1 - strength) * (0.6 * swirl)


def _paint_layer(canvas: np.ndarray, composition: np.ndarray, angle: np.ndarray,
                 radius: float, density: float, rng: np.random.Generator) -> None:
    height, width = canvas.shape[:2]
    spacing = max(2.0, radius * 1.2)
    count = int(density * width * height / spacing ** 2)
    thickness = max(1, int(round(radius)))

    # Every stroke's position, colour and shape is drawn at once; the loop only paints.
    xs = rng.uniform(0, width - 1, count)
    ys = rng.uniform(0, height - 1, count)
    iy, ix = ys.astype(int), xs.astype(int)
    colours = composition[iy, ix] * rng.uniform(0.88, 1.12, (count, 1)) + rng.normal(0, 6, (count, 3))
    colours = np.clip(colours, 0, 255)
    highlights = np.clip(colours * 1.12 + 8, 0, 255)
    lengths = radius * rng.uniform(2.0, 4.5, count)
    thetas = angle[iy, ix] + rng.normal(0, 0.15, count)
    strokes = _curved_strokes(xs, ys, thetas, lengths, rng)
    lift = np.array([0, -(thickness // 3)], dtype=np.int32)

    for points, colour, highlight in zip(strokes, colours.tolist(), highlights.tolist()):
        cv2.polylines(canvas, [points], False, colour, thickness, cv2.LINE_AA)
        # A thin lighter ridge along the stroke, like paint catching the light.
        if thickness >= 3:
            cv2.polylines(canvas, [points + lift], False, highlight, max(1, thickness // 4), cv2.LINE_AA)


def _curved_strokes(xs: np.ndarray, ys: np.ndarray, thetas: np.ndarray, lengths: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """Gently bent strokes centred on (x, y): (count, 6, 2) int32 pixel points."""
    bends = rng.normal(0, 0.25, len(xs))
    t = np.linspace(-0.5, 0.5, 6)
    angles = thetas[:, None] + bends[:, None] * t
    dx = np.cumsum(np.cos(angles), axis=1) * (lengths[:, None] / len(t))
    dy = np.cumsum(np.sin(angles), axis=1) * (lengths[:, None] / len(t))
    px = xs[:, None] + dx - dx.mean(axis=1, keepdims=True)
    py = ys[:, None] + dy - dy.mean(axis=1, keepdims=True)
    return np.stack([px, py], axis=2).astype(np.int32)


def _canvas_texture(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a faint linen weave and grain, then round to 8 bits."""
    height, width = canvas.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    weave = 3.0 * np.sin(xx * 1.7) * np.sin(yy * 1.7)
    grain = rng.normal(0, 2.0, (height, width)).astype(np.float32)
    textured = canvas + (weave + grain)[:, :, None]
    return np.clip(textured + 0.5, 0, 255).astype(np.uint8)
