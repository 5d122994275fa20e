"""Subcommands for the painter: `reference` (a sheet to paint from) and `video` (morph videos)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def positive_number(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0")
    return value


def non_negative_number(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more")
    return value


def frame_rate(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 120:
        raise argparse.ArgumentTypeError(f"{text} must be between 1 and 120")
    return value


def register(subparsers, common) -> None:
    command = subparsers.add_parser(
        "reference", parents=[common], help="make a sheet to paint an image from (PDF or PNG)",
        description="Make a reference sheet of one image: the picture cropped to the canvas's "
                    "proportions at print resolution, an optional drawing grid in canvas "
                    "centimetres with lettered columns and numbered rows, and its main colours "
                    "as swatches with sRGB hex values and their share of the picture.")
    command.add_argument("node", type=int, metavar="ID", help="image number")
    command.add_argument("--canvas", metavar="WxH",
                         help="canvas width x height, for example 50x70cm or 500x700mm; "
                              "a unitless size is in cm (default: reference.canvas_width_cm x "
                              "reference.canvas_height_cm)")
    command.add_argument("--grid", metavar="LENGTH",
                         help="side of a grid square on the canvas, for example 5cm or 40mm; "
                              "0 for no grid (default: reference.grid_cm)")
    command.add_argument("--paper", choices=("A4", "A3"),
                         help="paper size; landscape when the canvas is (default: reference.paper)")
    command.add_argument("--out", type=Path, metavar="FILE",
                         help="output file, .pdf or .png (default: reference.folder/ID-WxHcm."
                              "reference.format)")
    command.set_defaults(handler=make_reference)

    command = subparsers.add_parser(
        "video", parents=[common], help="render a morph between two images, or a genealogy walk, "
                                         "to an H.264 MP4",
        description="Render an MP4 video (H.264, plays on phones and social networks): a still of "
                    "the first image, an eased morph to the second, and a still of the second. "
                    "With --walk, every visible image in genealogy order.")
    add_video_options(command)
    # Everything after the first positional is parsed again by the handler, so options
    # may stand between the IDs and the file name as in `video 3 7 --seconds 5 out.mp4`.
    command.add_argument("items", nargs=argparse.REMAINDER, metavar="ID_FROM ID_TO OUT.mp4",
                         help="the image to start from, the image to end on, and the video file "
                              "to write; with --walk only the video file")
    command.set_defaults(handler=make_video)


def add_video_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--walk", action="store_true",
                        help="walk the whole genealogy (visible images, depth first) instead")
    parser.add_argument("--seconds", type=positive_number, metavar="S",
                        help="length of each morph, in seconds (default: video.morph_seconds)")
    parser.add_argument("--hold", type=non_negative_number, metavar="S",
                        help="still frames at each image, in seconds (default: video.hold_seconds)")
    parser.add_argument("--size", metavar="WxH",
                        help="frame size in pixels, for example 1080x1350 (default: video.width x "
                             "video.height)")
    parser.add_argument("--fps", type=frame_rate, metavar="N",
                        help="frames per second (default: video.fps)")


def parse_video_items(args: argparse.Namespace) -> argparse.Namespace:
    """Parse the options mixed among the positional items; values given before them are kept."""
    parser = argparse.ArgumentParser(prog="twoway video")
    add_video_options(parser)
    parser.add_argument("items", nargs="*")
    known = argparse.Namespace(**{key: value for key, value in vars(args).items() if key != "items"})
    return parser.parse_intermixed_args(args.items, namespace=known)


def make_reference(args: argparse.Namespace, context) -> int:
    from installation.reference import make_reference_sheet, parse_canvas_cm, parse_length_cm

    canvas = parse_canvas_cm(args.canvas) if args.canvas else None
    grid = parse_length_cm(args.grid) if args.grid is not None else None
    path = make_reference_sheet(context.archive, args.node, context.settings, context.texts,
                                canvas_cm=canvas, grid_cm=grid, paper=args.paper, out=args.out)
    context.say("reference.written", node_id=args.node, path=path)
    return 0


def make_video(args: argparse.Namespace, context) -> int:
    import dataclasses

    from tqdm import tqdm

    from installation.video import parse_video_size, render_node_video, walk_node_ids

    args = parse_video_items(args)
    if not args.items:
        print(context.texts("video.needs_two"), file=sys.stderr)
        return 2
    *ids, out = args.items
    if not out.lower().endswith(".mp4"):
        print(context.texts("video.bad_format", path=out), file=sys.stderr)
        return 2
    if args.walk and not ids:
        node_ids = walk_node_ids(context.archive)
    elif not args.walk and len(ids) == 2 and all(item.isdigit() for item in ids):
        node_ids = [int(item) for item in ids]
    else:
        print(context.texts("video.needs_two"), file=sys.stderr)
        return 2

    settings = context.settings.video
    changes = {"morph_seconds": args.seconds, "hold_seconds": args.hold, "fps": args.fps}
    settings = dataclasses.replace(settings, **{k: v for k, v in changes.items() if v is not None})
    size = parse_video_size(args.size) if args.size else None

    with tqdm(desc=context.texts("video.progress"), unit="frame", file=sys.stderr) as bar:
        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        summary = render_node_video(context.archive, node_ids, Path(out), settings, size, advance,
                                    network_settings=context.settings)
    context.say("video.written", path=summary.path, seconds=f"{summary.seconds:.1f}",
                frames=summary.frames, width=summary.width, height=summary.height)
    return 0
