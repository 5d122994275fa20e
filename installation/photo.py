"""Reading photos as a phone or camera delivers them, into plain 8-bit RGB images.

Accepts JPEG (EXIF orientation applied), PNG with alpha (flattened on white),
16-bit, grayscale, palette, CMYK and HEIC (through pillow-heif). Everything else,
and damaged or oversized files, raise `TwowayError` with a message for the artist.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from installation.texts import TwowayError

log = logging.getLogger(__name__)

try:
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is pinned, but the program runs without it
    log.info("pillow-heif not installed: HEIC photos cannot be imported")

# The largest file read into memory at all, in bytes (a 100 MP 16-bit TIFF is ~600 MB).
MAX_FILE_BYTES = 1_000_000_000
FLATTEN_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class Photo:
    """A decoded photo and the bytes of the file exactly as it came."""

    image: Image.Image  # mode "RGB", at most max_side pixels on the long side
    original: bytes
    original_suffix: str  # ".jpg", ".png", ... lower case, from the decoded format
    original_size: tuple[int, int]  # (width, height) in pixels, after EXIF orientation


def read_photo(path: Path | str, max_pixels: int, max_side: int) -> Photo:
    """Read and decode a photo file; raise `TwowayError` when it cannot be used."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TwowayError("errors.photo_too_large", path=path, pixels="?", limit=max_pixels)
        data = path.read_bytes()
    except FileNotFoundError:
        raise TwowayError("errors.photo_missing", path=path)
    except IsADirectoryError:
        raise TwowayError("errors.photo_not_image", path=path)
    except OSError as error:
        raise TwowayError("errors.photo_unreadable", path=path, reason=error.strerror)
    return decode_photo(data, path, max_pixels, max_side)


def decode_photo(data: bytes, path: Path | str, max_pixels: int, max_side: int) -> Photo:
    """Decode photo bytes; `path` is used only in messages."""
    if not data:
        raise TwowayError("errors.photo_empty", path=path)

    image = _open_checked(data, path, max_pixels)
    suffix = "." + (image.format or "bin").lower().replace("jpeg", "jpg")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise TwowayError("errors.photo_damaged", path=path, reason=str(error))

    original_size = image.size
    rgb = to_rgb(image)
    rgb = _limit_side(rgb, max_side)
    return Photo(image=rgb, original=data, original_suffix=suffix, original_size=original_size)


def _open_checked(data: bytes, path, max_pixels: int) -> Image.Image:
    # Image.open reads only the header, so the pixel count is known before decoding.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise TwowayError("errors.photo_too_large", path=path, pixels="?", limit=max_pixels)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise TwowayError("errors.photo_not_image", path=path)

    width, height = image.size
    if width < 1 or height < 1:
        raise TwowayError("errors.photo_damaged", path=path, reason=f"size {width}x{height}")
    if width * height > max_pixels:
        raise TwowayError("errors.photo_too_large", path=path, pixels=width * height, limit=max_pixels)
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, flattening transparency on white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_depth_to_rgb(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, FLATTEN_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        top = 65535.0
    else:
        # 32-bit integer or float images carry no fixed range: stretch what is there.
        low = float(values.min())
        values = values - low
        top = float(values.max()) or 1.0
    gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _limit_side(image: Image.Image, max_side: int) -> Image.Image:
    longest = max(image.size)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
