"""Importing what phones and cameras deliver, and rejecting what cannot be used."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from installation.photo import decode_photo, read_photo
from installation.texts import TwowayError

LIMIT = 100_000_000


def save(image, path, **options):
    image.save(path, **options)
    return path


def read(path, max_pixels=LIMIT, max_side=4096):
    return read_photo(path, max_pixels, max_side)


def huge_png_header(width, height):
    """A valid PNG signature and header claiming a huge size, with one row of data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def test_jpeg_reads_as_rgb(paintings):
    photo = read(paintings[0])
    assert photo.image.mode == "RGB"


def test_original_bytes_are_kept(paintings):
    assert read(paintings[0]).original == paintings[0].read_bytes()


def test_exif_orientation_is_applied(paintings, tmp_path):
    source = Image.open(paintings[0])
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees clockwise
    path = save(source, tmp_path / "rotated.jpg", exif=exif.tobytes())
    assert read(path).image.size == (source.height, source.width)


def test_alpha_is_flattened_on_white(tmp_path):
    image = Image.new("RGBA", (20, 10), (255, 0, 0, 255))
    image.paste((0, 0, 0, 0), (10, 0, 20, 10))
    photo = read(save(image, tmp_path / "alpha.png"))
    assert photo.image.getpixel((15, 5)) == (255, 255, 255)


def test_sixteen_bit_keeps_range(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (8, 1))
    photo = read(save(Image.fromarray(ramp), tmp_path / "deep.png"))
    values = np.asarray(photo.image)[..., 0]
    assert (values.min(), values.max()) == (0, 255)


def test_grayscale_becomes_rgb(tmp_path):
    photo = read(save(Image.new("L", (8, 8), 90), tmp_path / "gray.png"))
    assert photo.image.getpixel((0, 0)) == (90, 90, 90)


def test_cmyk_becomes_rgb(tmp_path):
    photo = read(save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), tmp_path / "cmyk.jpg"))
    assert photo.image.mode == "RGB"


def test_heic_is_read(tmp_path):
    path = save(Image.new("RGB", (64, 48), (10, 120, 200)), tmp_path / "phone.heic", format="HEIF")
    assert read(path).image.size == (64, 48)


def test_large_photo_is_scaled_down(paintings):
    photo = read(paintings[0], max_side=300)
    assert max(photo.image.size) == 300


def test_text_file_is_rejected(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a photo")
    with pytest.raises(TwowayError) as caught:
        read(path)
    assert caught.value.key == "errors.photo_not_image"


def test_empty_file_is_rejected(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(TwowayError) as caught:
        read(path)
    assert caught.value.key == "errors.photo_empty"


def test_truncated_jpeg_is_rejected(paintings, tmp_path):
    data = paintings[0].read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TwowayError) as caught:
        read(path)
    assert caught.value.key == "errors.photo_damaged"


def test_huge_header_is_rejected_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(huge_png_header(100_000, 100_000))
    with pytest.raises(TwowayError) as caught:
        read(path)
    assert caught.value.key == "errors.photo_too_large"


def test_pixel_limit_comes_from_caller(paintings):
    with pytest.raises(TwowayError) as caught:
        read(paintings[0], max_pixels=1000)
    assert caught.value.params["limit"] == 1000


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(TwowayError) as caught:
        read(tmp_path / "absent.jpg")
    assert caught.value.key == "errors.photo_missing"


def test_folder_is_rejected(tmp_path):
    with pytest.raises(TwowayError) as caught:
        read(tmp_path)
    assert caught.value.key == "errors.photo_not_image"


def test_random_bytes_are_rejected():
    data = np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(TwowayError) as caught:
        decode_photo(data, "random.bin", LIMIT, 4096)
    assert caught.value.key == "errors.photo_not_image"
