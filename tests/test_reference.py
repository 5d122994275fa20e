"""Reference sheets: sizes, palette, page layout, and whole sheets of a child of a real painting."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from installation.config import Settings
from installation.reference import (
    MM_PER_INCH, Box, Label, Sheet, column_name, crop_to_proportion, extract_palette,
    layout_sheet, make_reference_sheet, paper_size_mm, parse_canvas_cm, parse_length_cm,
)
from installation.texts import Texts, TwowayError

LOW_DPI = 72  # small pages keep the tests fast; the layout is the same at any resolution


@pytest.fixture
def settings():
    base = Settings()
    return dataclasses.replace(base, reference=dataclasses.replace(base.reference, dpi=LOW_DPI))


@pytest.fixture
def child(archive, paintings):
    painting = archive.import_photo(paintings[0])
    picture = archive.load_image(painting)
    picture.thumbnail((200, 200))
    return archive.add_machine_image(picture, [painting.id], network="patches", version="1", seed=3,
                                     title="Hija")


def test_canvas_size_units():
    assert parse_canvas_cm("50x70cm") == (50.0, 70.0)
    assert parse_canvas_cm("500x700mm") == (50.0, 70.0)
    assert parse_canvas_cm("40 x 30") == (40.0, 30.0)
    assert parse_canvas_cm("20x10in") == pytest.approx((50.8, 25.4))
    assert parse_canvas_cm("60,5x80") == (60.5, 80.0)


@pytest.mark.parametrize("text", ["50", "50x", "ax70", "0x70cm", "50x70km", ""])
def test_canvas_size_rejected(text):
    with pytest.raises(TwowayError) as caught:
        parse_canvas_cm(text)
    assert caught.value.key == "reference.bad_canvas"


def test_grid_length_units():
    assert parse_length_cm("5cm") == 5.0
    assert parse_length_cm("40mm") == 4.0
    assert parse_length_cm("7") == 7.0
    assert parse_length_cm("0") == 0.0


def test_grid_length_rejected():
    with pytest.raises(TwowayError) as caught:
        parse_length_cm("five")
    assert caught.value.key == "reference.bad_length"


@pytest.mark.parametrize("text", ["1x100000cm", "100000x1mm", "2x41in"])
def test_canvas_too_narrow_rejected(text):
    with pytest.raises(TwowayError) as caught:
        parse_canvas_cm(text)
    assert caught.value.key == "reference.narrow_canvas"


def test_crop_keeps_canvas_proportion():
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    assert crop_to_proportion(image, 50 / 70).shape == (300, 214, 3)
    assert crop_to_proportion(image, 2.0).shape == (200, 400, 3)


def test_column_names_run_past_z():
    assert [column_name(i) for i in (0, 1, 25, 26, 27)] == ["A", "B", "Z", "AA", "AB"]


def test_palette_finds_flat_colours():
    image = np.zeros((60, 100, 3), dtype=np.uint8)
    image[:, :50] = (200, 30, 40)  # half
    image[:, 50:80] = (20, 90, 200)  # 30 %
    image[:, 80:] = (250, 240, 220)  # 20 %

    palette = extract_palette(image, count=10)

    assert len(palette) == 3
    assert [swatch.hex for swatch in palette] == ["#C81E28", "#145AC8", "#FAF0DC"]
    assert [round(swatch.share, 2) for swatch in palette] == [0.5, 0.3, 0.2]


def test_palette_of_painting_has_requested_count(paintings):
    with Image.open(paintings[1]) as opened:
        image = np.asarray(opened.convert("RGB").reduce(4))
    palette = extract_palette(image, count=10)
    assert len(palette) == 10
    assert sum(swatch.share for swatch in palette) == pytest.approx(1.0)
    assert palette == sorted(palette, key=lambda swatch: swatch.share, reverse=True)


def test_paper_turns_for_landscape_canvas():
    assert paper_size_mm("A4", (50, 70)) == (210.0, 297.0)
    assert paper_size_mm("A4", (70, 50)) == (297.0, 210.0)
    assert paper_size_mm("A3", (30, 30)) == (297.0, 420.0)


def test_layout_labels_every_grid_square():
    palette = extract_palette(np.full((8, 8, 3), 128, dtype=np.uint8), count=4)
    sheet = Sheet(heading="h", details=("a", "b", "c"), canvas_cm=(50, 70), grid_cm=5,
                  palette=palette, paper="A4")
    texts = {op.text for op in layout_sheet(sheet, Texts("en")) if isinstance(op, Label)}
    assert {"A", "J"} <= texts
    assert "K" not in texts
    assert {"1", "14"} <= texts
    assert "15" not in texts


def test_layout_partial_last_square_gets_label():
    palette = extract_palette(np.full((8, 8, 3), 128, dtype=np.uint8), count=4)
    sheet = Sheet(heading="h", details=("a",), canvas_cm=(52, 70), grid_cm=5,
                  palette=palette, paper="A4")
    texts = {op.text for op in layout_sheet(sheet, Texts("en")) if isinstance(op, Label)}
    assert "K" in texts


def test_pdf_sheet_of_child(archive, child, settings, tmp_path):
    out = make_reference_sheet(archive, child.id, settings, Texts("es"), canvas_cm=(50, 70),
                               grid_cm=5, out=tmp_path / "hoja.pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in data  # A4 portrait, in points
    assert b"/Subtype /Image" in data


def test_png_sheet_size_and_swatch(archive, child, settings, tmp_path):
    out = make_reference_sheet(archive, child.id, settings, Texts("en"), canvas_cm=(70, 50),
                               grid_cm=0, out=tmp_path / "sheet.png")
    with Image.open(out) as opened:
        page = opened.convert("RGB")
    expected = tuple(round(side / MM_PER_INCH * LOW_DPI) for side in (297.0, 210.0))
    assert page.size == expected

    # The first swatch on the page has the largest palette colour of the cropped child.
    cropped = crop_to_proportion(np.asarray(archive.load_image(child)), 70 / 50)
    first = extract_palette(cropped, settings.reference.colours)[0]
    sheet = Sheet(heading="", details=("", "", ""), canvas_cm=(70, 50), grid_cm=0,
                  palette=extract_palette(cropped, settings.reference.colours), paper="A4")
    swatch = next(op for op in layout_sheet(sheet, Texts("en")) if isinstance(op, Box) and op.fill)
    centre = ((swatch.x + swatch.width / 2) / MM_PER_INCH * LOW_DPI,
              (swatch.y + swatch.height / 2) / MM_PER_INCH * LOW_DPI)
    assert page.getpixel((round(centre[0]), round(centre[1]))) == first.rgb


def test_default_path_beside_settings(archive, child, settings, tmp_path):
    settings = dataclasses.replace(settings, source=tmp_path / "config.toml")
    out = make_reference_sheet(archive, child.id, settings, canvas_cm=(30, 40), grid_cm=0)
    assert out == tmp_path / "references" / f"{child.id:05d}-30x40cm.pdf"
    assert out.is_file()


def test_bad_output_suffix_rejected(archive, child, settings, tmp_path):
    with pytest.raises(TwowayError) as caught:
        make_reference_sheet(archive, child.id, settings, out=tmp_path / "sheet.jpg")
    assert caught.value.key == "reference.bad_format"
    assert not (tmp_path / "sheet.jpg").exists()


def test_missing_node_rejected(archive, settings, tmp_path):
    with pytest.raises(TwowayError) as caught:
        make_reference_sheet(archive, 99, settings, out=tmp_path / "sheet.pdf")
    assert caught.value.key == "errors.node_not_found"


def test_cli_reference_command(tmp_path, paintings):
    config = tmp_path / "config.toml"
    config.write_text('[archive]\npath = "archive"\n[reference]\ndpi = 72\n', encoding="utf-8")
    twoway = [sys.executable, "-m", "installation", "--config", str(config)]
    subprocess.run(twoway + ["import", str(paintings[2])], check=True, capture_output=True)
    out = tmp_path / "sheet.png"

    result = subprocess.run(twoway + ["reference", "1", "--canvas", "50x70cm", "--grid", "5cm",
                                      "--out", str(out)], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    with Image.open(out) as page:
        assert page.size == (round(210 / MM_PER_INCH * 72), round(297 / MM_PER_INCH * 72))


def test_cli_reference_bad_canvas(tmp_path, paintings):
    config = tmp_path / "config.toml"
    config.write_text('[archive]\npath = "archive"\n[general]\nlanguage = "en"\n', encoding="utf-8")
    twoway = [sys.executable, "-m", "installation", "--config", str(config)]
    subprocess.run(twoway + ["import", str(paintings[2])], check=True, capture_output=True)

    result = subprocess.run(twoway + ["reference", "1", "--canvas", "50by70"],
                            capture_output=True, text=True)

    assert result.returncode == 1
    assert "50by70 is not a valid canvas size" in result.stderr


def test_reference_job_writes_sheet(archive, child, settings, tmp_path):
    from installation.jobs import JobContext
    from installation.reference import reference_job

    stages = []
    context = JobContext(job_id="j1", archive=archive, device="cpu", settings=settings,
                         _report=lambda fraction, stage, preview: stages.append(stage),
                         _is_cancelled=lambda: False)

    result = reference_job({"node_id": child.id, "canvas_cm": [40, 40], "grid_cm": 4,
                            "out": str(tmp_path / "job.png")}, context)

    assert result == {"path": str(tmp_path / "job.png")}
    assert (tmp_path / "job.png").is_file()
    assert stages == ["reference", "done"]
