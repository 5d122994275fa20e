"""Reference sheets to paint from: a child at print size, a drawing grid and its palette.

A sheet shows one node cropped to the canvas's proportions, with an optional
grid in canvas centimetres (columns A, B, C... and rows 1, 2, 3..., the
classic way to transfer a picture to a canvas square by square), and the main
colours as swatches with their sRGB hex value and share of the picture.

The page is laid out once as a list of drawing operations in millimetres from
the top-left corner of the paper. Two small backends draw that list: reportlab
for PDF (vector grid and text) and Pillow for PNG.

`make_reference_sheet` is the one entry point for the CLI, OSC and the status
overlay. It decodes, upscales and clusters, so it takes about a second or more:
call it from a worker job (`reference_job`) or a thread, never from the display loop.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from installation.archive import write_atomic
from installation.texts import Texts, TwowayError

log = logging.getLogger(__name__)

PAPER_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
MM_PER_INCH = 25.4
POINTS_PER_INCH = 72.0
MARGIN_MM = 12.0
LABEL_GUTTER_MM = 6.0
SWATCHES_PER_ROW = 12
# Cluster centres closer than this (CIE76 delta E) are one colour: k-means splits a flat
# area into near-identical clusters when the picture has fewer colours than asked for.
SAME_COLOUR_DELTA_E = 3.0
PALETTE_SAMPLE_SIDE = 256  # long side, in pixels, of the copy the palette is computed on
# Bitstream Vera ships with reportlab and covers the accents of Spanish; both backends use it
# so the PDF and the PNG look alike.
FONT_FILES = {False: "Vera.ttf", True: "VeraBd.ttf"}

LENGTH_UNITS_CM = {"cm": 1.0, "mm": 0.1, "in": 2.54, "": 1.0}


# --- parsing sizes -------------------------------------------------------------------

def parse_length_cm(text: str) -> float:
    """Parse a length such as "5cm", "40mm", "2in" or "5" (centimetres) into centimetres."""
    match = re.fullmatch(r"\s*(\d+(?:[.,]\d+)?)\s*(cm|mm|in)?\s*", str(text).lower())
    if not match:
        raise TwowayError("reference.bad_length", value=text)
    number = float(match.group(1).replace(",", "."))
    return number * LENGTH_UNITS_CM[match.group(2) or ""]


MAX_CANVAS_PROPORTION = 20  # the longer side of a canvas at most this many times the shorter


def parse_canvas_cm(text: str) -> tuple[float, float]:
    """Parse a canvas size such as "50x70cm", "500x700mm" or "50 x 70" into (width, height) in cm."""
    match = re.fullmatch(r"\s*(\d+(?:[.,]\d+)?)\s*[x×*]\s*(\d+(?:[.,]\d+)?)\s*(cm|mm|in)?\s*",
                         str(text).lower())
    if not match:
        raise TwowayError("reference.bad_canvas", value=text)
    unit = LENGTH_UNITS_CM[match.group(3) or ""]
    width = float(match.group(1).replace(",", ".")) * unit
    height = float(match.group(2).replace(",", ".")) * unit
    if width <= 0 or height <= 0:
        raise TwowayError("reference.bad_canvas", value=text)
    if max(width, height) > MAX_CANVAS_PROPORTION * min(width, height):
        raise TwowayError("reference.narrow_canvas", value=text, max=MAX_CANVAS_PROPORTION)
    return width, height


# --- the picture ---------------------------------------------------------------------

def crop_to_proportion(image: np.ndarray, width_over_height: float) -> np.ndarray:
    """Crop the centre of an HxWx3 image to the given proportion, keeping as much as possible."""
    height, width = image.shape[:2]
    if width / height > width_over_height:
        new_width = max(1, round(height * width_over_height))
        left = (width - new_width) // 2
        return image[:, left:left + new_width]
    new_height = max(1, round(width / width_over_height))
    top = (height - new_height) // 2
    return image[top:top + new_height, :]


def resize_for_print(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to (width, height) pixels: Lanczos when enlarging, area averaging when reducing."""
    enlarging = width * height > image.shape[0] * image.shape[1]
    method = cv2.INTER_LANCZOS4 if enlarging else cv2.INTER_AREA
    return cv2.resize(image, (width, height), interpolation=method)


def render_print_image(node, cropped: np.ndarray, width: int, height: int) -> tuple[np.ndarray, str]:
    """Return the node's cropped picture at (width, height) pixels and the method used.

    TODO: render again at the larger size through the node's network once one can.
    The multiscale network decodes only at its trained size and then resizes, and
    the patches network does not promise the same child at another size, so every
    node is resized here for now.
    """
    return resize_for_print(cropped, width, height), "upscaled"


# --- the palette ---------------------------------------------------------------------

@dataclass(frozen=True)
class Swatch:
    """One palette colour: sRGB 0..255 and its share of the picture's pixels (0..1)."""

    rgb: tuple[int, int, int]
    share: float

    @property
    def hex(self) -> str:
        return "#{:02X}{:02X}{:02X}".format(*self.rgb)


def extract_palette(image: np.ndarray, count: int, seed: int = 0) -> list[Swatch]:
    """Find up to `count` main colours of an HxWx3 uint8 RGB image, largest share first.

    k-means runs in CIE Lab, where distances follow perceived colour difference,
    on a copy at most PALETTE_SAMPLE_SIDE pixels long. Clusters closer than
    SAME_COLOUR_DELTA_E are merged, so a picture with few colours gets few swatches.
    """
    sample = _palette_sample(image)
    lab = cv2.cvtColor(sample.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    clusters = min(count, len(lab))

    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 0.2)
    _, labels, centres = cv2.kmeans(lab, clusters, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    sizes = np.bincount(labels.ravel(), minlength=clusters).astype(np.float64)

    merged = _merge_close_centres(centres.astype(np.float64), sizes)
    total = sum(size for _, size in merged)
    swatches = [Swatch(_lab_to_rgb(centre), size / total) for centre, size in merged if size > 0]
    return sorted(swatches, key=lambda swatch: swatch.share, reverse=True)


def _palette_sample(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    scale = PALETTE_SAMPLE_SIDE / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Nearest neighbour keeps the real pixel colours instead of inventing blends at edges.
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)


def _merge_close_centres(centres: np.ndarray, sizes: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Merge clusters by size-weighted mean, largest first, while closer than SAME_COLOUR_DELTA_E."""
    merged: list[tuple[np.ndarray, float]] = []
    for index in np.argsort(-sizes):
        centre, size = centres[index], float(sizes[index])
        if size == 0:
            continue
        for position, (kept, kept_size) in enumerate(merged):
            if np.linalg.norm(kept - centre) < SAME_COLOUR_DELTA_E:
                mean = (kept * kept_size + centre * size) / (kept_size + size)
                merged[position] = (mean, kept_size + size)
                break
        else:
            merged.append((centre, size))
    return merged


def _lab_to_rgb(centre: np.ndarray) -> tuple[int, int, int]:
    pixel = centre.astype(np.float32).reshape(1, 1, 3)
    rgb = cv2.cvtColor(pixel, cv2.COLOR_Lab2RGB).reshape(3)
    return tuple(int(round(float(np.clip(value, 0.0, 1.0)) * 255)) for value in rgb)


# --- the page as drawing operations --------------------------------------------------

@dataclass(frozen=True)
class Box:
    """A rectangle in millimetres from the paper's top-left corner; `fill`/`stroke` are RGB or None."""

    x: float
    y: float
    width: float
    height: float
    fill: tuple[int, int, int] | None = None
    stroke: tuple[int, int, int] | None = None
    line_mm: float = 0.2


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    colour: tuple[int, int, int]
    line_mm: float


@dataclass(frozen=True)
class Label:
    """Text whose baseline starts (align "left"), centres or ends (align "right") at (x, y) mm."""

    x: float
    y: float
    text: str
    size_pt: float
    align: str = "left"
    bold: bool = False


@dataclass(frozen=True)
class Picture:
    """The child's picture, placed in the given box (mm)."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Sheet:
    """The content of one reference sheet, before layout."""

    heading: str
    details: tuple[str, ...]
    canvas_cm: tuple[float, float]
    grid_cm: float
    palette: list[Swatch]
    paper: str


def paper_size_mm(paper: str, canvas_cm: tuple[float, float]) -> tuple[float, float]:
    """Return (width, height) of the paper in mm, landscape when the canvas is landscape."""
    short, long = PAPER_MM[paper]
    return (long, short) if canvas_cm[0] > canvas_cm[1] else (short, long)


def picture_box_mm(sheet: Sheet) -> Picture:
    """Place the picture as large as fits between the header, the grid labels and the palette."""
    paper_width, paper_height = paper_size_mm(sheet.paper, sheet.canvas_cm)
    gutter = LABEL_GUTTER_MM if sheet.grid_cm > 0 else 0.0
    top = MARGIN_MM + 8.0 + 4.0 * len(sheet.details) + gutter
    palette_rows = -(-len(sheet.palette) // SWATCHES_PER_ROW)
    bottom = MARGIN_MM + 8.0 + palette_rows * 24.0

    free_width = paper_width - 2 * MARGIN_MM - 2 * gutter
    free_height = paper_height - top - bottom
    proportion = sheet.canvas_cm[0] / sheet.canvas_cm[1]
    width = min(free_width, free_height * proportion)
    height = width / proportion
    left = (paper_width - width) / 2
    return Picture(left, top, width, height)


def column_name(index: int) -> str:
    """Spreadsheet-style column label: 0 -> A, 25 -> Z, 26 -> AA."""
    name = ""
    index += 1
    while index > 0:
        index, remainder = divmod(index - 1, 26)
        name = chr(ord("A") + remainder) + name
    return name


def layout_sheet(sheet: Sheet, texts: Texts) -> list:
    """Return the drawing operations of the whole page, in mm from the top-left corner."""
    paper_width, paper_height = paper_size_mm(sheet.paper, sheet.canvas_cm)
    picture = picture_box_mm(sheet)
    operations: list = [
        Label(MARGIN_MM, MARGIN_MM + 5.0, sheet.heading, 13, bold=True),
        *(Label(MARGIN_MM, MARGIN_MM + 10.0 + 4.0 * row, line, 8)
          for row, line in enumerate(sheet.details)),
        picture,
        Box(picture.x, picture.y, picture.width, picture.height, stroke=(0, 0, 0), line_mm=0.3),
    ]
    if sheet.grid_cm > 0:
        operations += _grid_operations(sheet, picture, texts)
    operations += _palette_operations(sheet, picture, paper_width, paper_height, texts)
    return operations


def _grid_operations(sheet: Sheet, picture: Picture, texts: Texts) -> list:
    mm_per_cm = picture.width / sheet.canvas_cm[0]
    step = sheet.grid_cm * mm_per_cm
    columns = int(np.ceil(sheet.canvas_cm[0] / sheet.grid_cm - 1e-9))
    rows = int(np.ceil(sheet.canvas_cm[1] / sheet.grid_cm - 1e-9))
    operations = []

    # Each line is drawn light and wide, then dark and thin, so it shows on any colour.
    for column in range(1, columns):
        x = picture.x + column * step
        operations.append(Line(x, picture.y, x, picture.y + picture.height, (255, 255, 255), 0.5))
        operations.append(Line(x, picture.y, x, picture.y + picture.height, (20, 20, 20), 0.18))
    for row in range(1, rows):
        y = picture.y + row * step
        operations.append(Line(picture.x, y, picture.x + picture.width, y, (255, 255, 255), 0.5))
        operations.append(Line(picture.x, y, picture.x + picture.width, y, (20, 20, 20), 0.18))

    label_size = min(7.0, max(4.0, step * 1.6))
    for column in range(columns):
        centre = picture.x + min((column + 0.5) * step, (picture.width + column * step) / 2)
        operations.append(Label(centre, picture.y - 1.8, column_name(column), label_size, "centre"))
    for row in range(rows):
        middle = picture.y + min((row + 0.5) * step, (picture.height + row * step) / 2)
        operations.append(Label(picture.x - 1.5, middle + 1.0, str(row + 1), label_size, "right"))
        operations.append(Label(picture.x + picture.width + 1.5, middle + 1.0, str(row + 1),
                                label_size, "left"))
    return operations


def _palette_operations(sheet: Sheet, picture: Picture, paper_width: float,
                        paper_height: float, texts: Texts) -> list:
    top = picture.y + picture.height + 8.0
    usable = paper_width - 2 * MARGIN_MM
    cell = usable / SWATCHES_PER_ROW
    operations: list = [Label(MARGIN_MM, top, texts("reference.palette", count=len(sheet.palette)),
                              8, bold=True)]
    for index, swatch in enumerate(sheet.palette):
        row, column = divmod(index, SWATCHES_PER_ROW)
        x = MARGIN_MM + column * cell
        y = top + 2.5 + row * 24.0
        operations.append(Box(x + 0.6, y, cell - 1.2, 11.0, fill=swatch.rgb, stroke=(90, 90, 90),
                              line_mm=0.15))
        operations.append(Label(x + cell / 2, y + 14.5, swatch.hex, 6.5, "centre"))
        operations.append(Label(x + cell / 2, y + 18.0, f"{swatch.share * 100:.1f} %", 6.5, "centre"))
    return operations


# --- backends ------------------------------------------------------------------------

def draw_pdf(operations: list, paper_mm: tuple[float, float], picture: np.ndarray, dpi: int) -> bytes:
    """Draw the operations into a one-page PDF and return its bytes."""
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page_height = paper_mm[1]
    pdf = canvas.Canvas(buffer, pagesize=(paper_mm[0] * mm, paper_mm[1] * mm), pageCompression=1)
    for operation in operations:
        if isinstance(operation, Picture):
            # JPEG keeps a 200 dpi picture to a few MB; reportlab embeds it as it is.
            encoded = io.BytesIO()
            Image.fromarray(picture).save(encoded, format="JPEG", quality=92, dpi=(dpi, dpi))
            encoded.seek(0)
            pdf.drawImage(ImageReader(encoded), operation.x * mm,
                          (page_height - operation.y - operation.height) * mm,
                          operation.width * mm, operation.height * mm)
        elif isinstance(operation, Box):
            _pdf_colours(pdf, operation.fill, operation.stroke)
            pdf.setLineWidth(operation.line_mm * mm)
            pdf.rect(operation.x * mm, (page_height - operation.y - operation.height) * mm,
                     operation.width * mm, operation.height * mm,
                     stroke=operation.stroke is not None, fill=operation.fill is not None)
        elif isinstance(operation, Line):
            _pdf_colours(pdf, None, operation.colour)
            pdf.setLineWidth(operation.line_mm * mm)
            pdf.line(operation.x1 * mm, (page_height - operation.y1) * mm,
                     operation.x2 * mm, (page_height - operation.y2) * mm)
        elif isinstance(operation, Label):
            pdf.setFillColorRGB(0, 0, 0)
            pdf.setFont(_pdf_font(operation.bold), operation.size_pt)
            draw = {"left": pdf.drawString, "centre": pdf.drawCentredString,
                    "right": pdf.drawRightString}[operation.align]
            draw(operation.x * mm, (page_height - operation.y) * mm, operation.text)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def font_path(bold: bool) -> Path:
    import reportlab

    return Path(reportlab.__file__).resolve().parent / "fonts" / FONT_FILES[bold]


def _pdf_font(bold: bool) -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    name = "Vera-Bold" if bold else "Vera"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, str(font_path(bold))))
    return name


def _pdf_colours(pdf, fill, stroke) -> None:
    if fill is not None:
        pdf.setFillColorRGB(*(value / 255 for value in fill))
    if stroke is not None:
        pdf.setStrokeColorRGB(*(value / 255 for value in stroke))


def draw_png(operations: list, paper_mm: tuple[float, float], picture: np.ndarray, dpi: int) -> bytes:
    """Draw the operations onto a white page at `dpi` and return PNG bytes."""
    def px(value_mm: float) -> int:
        return round(value_mm / MM_PER_INCH * dpi)

    page = Image.new("RGB", (px(paper_mm[0]), px(paper_mm[1])), "white")
    draw = ImageDraw.Draw(page)
    anchors = {"left": "ls", "centre": "ms", "right": "rs"}
    for operation in operations:
        if isinstance(operation, Picture):
            size = (px(operation.x + operation.width) - px(operation.x),
                    px(operation.y + operation.height) - px(operation.y))
            placed = Image.fromarray(picture)
            if placed.size != size:
                placed = placed.resize(size, Image.Resampling.LANCZOS)
            page.paste(placed, (px(operation.x), px(operation.y)))
        elif isinstance(operation, Box):
            draw.rectangle((px(operation.x), px(operation.y), px(operation.x + operation.width),
                            px(operation.y + operation.height)),
                           fill=operation.fill, outline=operation.stroke,
                           width=max(1, px(operation.line_mm)))
        elif isinstance(operation, Line):
            draw.line((px(operation.x1), px(operation.y1), px(operation.x2), px(operation.y2)),
                      fill=operation.colour, width=max(1, px(operation.line_mm)))
        elif isinstance(operation, Label):
            size = max(1, round(operation.size_pt / POINTS_PER_INCH * dpi))
            font = ImageFont.truetype(str(font_path(operation.bold)), size)
            draw.text((px(operation.x), px(operation.y)), operation.text, fill=(0, 0, 0),
                      font=font, anchor=anchors[operation.align])
    buffer = io.BytesIO()
    page.save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


# --- the entry point -----------------------------------------------------------------

def default_sheet_path(settings, node_id: int, canvas_cm: tuple[float, float],
                       file_format: str) -> Path:
    """Return `<reference.folder>/<id>-<W>x<H>cm.<format>`, the folder taken beside config.toml."""
    folder = Path(settings.reference.folder).expanduser()
    if not folder.is_absolute():
        folder = settings.source.parent / folder
    size = f"{canvas_cm[0]:g}x{canvas_cm[1]:g}cm"
    return folder / f"{node_id:05d}-{size}.{file_format}"


def make_reference_sheet(archive, node_id: int, settings, texts: Texts | None = None, *,
                         canvas_cm: tuple[float, float] | None = None,
                         grid_cm: float | None = None, paper: str | None = None,
                         out: Path | str | None = None) -> Path:
    """Write the reference sheet of one node as PDF or PNG (by `out`'s suffix) and return its path.

    `settings` is the whole Settings; values left as None come from its
    [reference] section. Without `out`, the file goes to reference.folder.
    """
    options = settings.reference
    texts = texts or Texts(settings.general.language)
    canvas_cm = canvas_cm or (options.canvas_width_cm, options.canvas_height_cm)
    grid_cm = options.grid_cm if grid_cm is None else grid_cm
    paper = paper or options.paper
    if grid_cm < 0:
        raise TwowayError("reference.bad_length", value=grid_cm)
    if paper not in PAPER_MM:
        raise TwowayError("reference.bad_paper", value=paper, allowed=", ".join(PAPER_MM))

    out = Path(out) if out is not None else default_sheet_path(settings, node_id, canvas_cm,
                                                               options.format)
    file_format = out.suffix.lower().lstrip(".")
    if file_format not in ("pdf", "png"):
        raise TwowayError("reference.bad_format", path=out)

    node = archive.node(node_id)
    log.info("reference sheet of node %d: canvas %gx%g cm, grid %g cm, %s, %d dpi -> %s",
             node.id, canvas_cm[0], canvas_cm[1], grid_cm, paper, options.dpi, out)

    # The palette is of the cropped picture, since that is what will be painted.
    cropped = crop_to_proportion(np.asarray(archive.load_image(node)), canvas_cm[0] / canvas_cm[1])
    palette = extract_palette(cropped, options.colours)
    sheet = Sheet(heading=_heading(node, texts), details=("", "", ""), canvas_cm=canvas_cm,
                  grid_cm=grid_cm, palette=palette, paper=paper)
    box = picture_box_mm(sheet)
    width_px = round(box.width / MM_PER_INCH * options.dpi)
    height_px = round(box.height / MM_PER_INCH * options.dpi)
    picture, method = render_print_image(node, cropped, width_px, height_px)

    details = _details(node, canvas_cm, grid_cm, method, width_px, height_px, box, texts)
    sheet = dataclasses.replace(sheet, details=details)
    operations = layout_sheet(sheet, texts)

    paper_mm = paper_size_mm(paper, canvas_cm)
    draw = draw_pdf if file_format == "pdf" else draw_png
    write_atomic(out, draw(operations, paper_mm, picture, options.dpi))
    log.info("reference sheet of node %d written: %s", node.id, out)
    return out


def _heading(node, texts: Texts) -> str:
    title = node.title or texts("reference.untitled")
    return texts("reference.heading", node_id=node.id, title=title)


def _details(node, canvas_cm, grid_cm, method, width_px, height_px, box, texts: Texts) -> tuple[str, ...]:
    """Return the three lines under the heading: what the image is, the canvas, the picture."""
    canvas = texts("reference.canvas", width=f"{canvas_cm[0]:g}", height=f"{canvas_cm[1]:g}",
                   scale=f"{canvas_cm[0] / (box.width / 10):.2f}")
    if grid_cm > 0:
        canvas += " · " + texts("reference.grid", step=f"{grid_cm:g}")
    return (
        texts("reference.node", kind=texts("kind." + node.kind), generation=node.generation,
              author=node.author or "-"),
        canvas,
        texts(f"reference.{method}", source=f"{node.width}x{node.height}", size=f"{width_px}x{height_px}"),
    )


def reference_job(params: dict, context) -> dict:
    """Make a reference sheet in the worker (job kind "reference", for OSC and the status overlay).

    params: node_id, and optionally canvas_cm ([width, height]), grid_cm, paper and
    out (a path); what is missing comes from the [reference] settings.
    Returns {"path": the file written}.
    """
    context.progress(0.0, "reference")
    canvas = params.get("canvas_cm")
    path = make_reference_sheet(
        context.archive, int(params["node_id"]), context.settings,
        canvas_cm=tuple(canvas) if canvas else None, grid_cm=params.get("grid_cm"),
        paper=params.get("paper"), out=params.get("out"))
    context.progress(1.0, "done")
    return {"path": str(path)}
