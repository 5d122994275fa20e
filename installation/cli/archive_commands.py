"""Subcommands that read and curate the genealogy archive."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from installation.familytree import walk_tree
from installation.texts import TwowayError

log = logging.getLogger(__name__)


def register(subparsers, common) -> None:
    command = subparsers.add_parser(
        "import", parents=[common], help="add photos of paintings to the archive",
        description="Add photos of paintings to the archive. JPEG, PNG, TIFF, WebP and HEIC are "
                    "accepted; a rejected file leaves the archive unchanged.")
    command.add_argument("photos", nargs="+", metavar="PHOTO", help="image files to import")
    command.add_argument("--parent", type=int, action="append", default=[], metavar="ID",
                         help="number of the image this painting was painted from; repeatable")
    command.add_argument("--title", default="", help="title of the painting (default: the file name)")
    command.add_argument("--author", default=None, help="who painted it (default: general.artist)")
    command.add_argument("--rectify", action="store_true",
                         help="find the canvas in each photo and store it flat, cut to its corners, "
                              "as 'twoway detect' finds them")
    command.set_defaults(handler=import_photos)

    command = subparsers.add_parser("tree", parents=[common],
                                    help="print the genealogy as an indented tree")
    command.add_argument("--all", action="store_true", help="include hidden images")
    command.set_defaults(handler=print_tree)

    command = subparsers.add_parser("show", parents=[common], help="print everything about one image")
    command.add_argument("node", type=int, metavar="ID", help="image number")
    command.set_defaults(handler=show_node)

    for name, flag in (("choose", "chosen"), ("hide", "hidden")):
        command = subparsers.add_parser(
            name, parents=[common],
            help=f"mark an image as {flag} (--undo removes the mark); nothing is deleted")
        command.add_argument("node", type=int, metavar="ID", help="image number")
        command.add_argument("--undo", action="store_true", help=f"remove the {flag} mark")
        command.set_defaults(handler=set_flag, flag=flag)

    command = subparsers.add_parser("title", parents=[common], help="set the title of an image")
    command.add_argument("node", type=int, metavar="ID", help="image number")
    command.add_argument("text", help="the new title")
    command.set_defaults(handler=set_title)

    command = subparsers.add_parser(
        "export", parents=[common],
        help="write every image, genealogy.json and a family-tree picture into a folder")
    command.add_argument("folder", type=Path, metavar="DIR", help="new or empty folder")
    command.add_argument("--thumbnail", type=int, default=160, metavar="PX",
                         help="side of each picture in the family tree, in pixels (default 160)")
    command.set_defaults(handler=export_archive)

    command = subparsers.add_parser(
        "verify", parents=[common],
        help="check that every record's files exist and open; exit status 1 if not")
    command.add_argument("--repair", action="store_true",
                         help="move files with no record to orphans/ and delete unfinished temporary files")
    command.set_defaults(handler=verify_archive)


def import_photos(args: argparse.Namespace, context) -> int:
    author = args.author if args.author is not None else context.settings.general.artist
    failed = 0
    for photo in args.photos:
        try:
            if args.rectify:
                node = _import_rectified(photo, args, author, context)
            else:
                node = context.archive.import_photo(photo, parents=args.parent, title=args.title,
                                                    author=author)
        except TwowayError as error:
            failed += 1
            log.warning("import of %s rejected: %s", photo, error)
            print(context.texts("cli.import_failed", reason=error.message(context.texts)),
                  file=sys.stderr)
            continue
        context.say("cli.imported", path=photo, node_id=node.id, title=node.title,
                    generation=node.generation)
    if len(args.photos) > 1:
        context.say("cli.import_summary", imported=len(args.photos) - failed, failed=failed)
    return 1 if failed else 0


def _import_rectified(photo: str, args: argparse.Namespace, author: str, context):
    from installation.capture.session import rectify_photo_file

    settings = context.settings
    rectified, capture = rectify_photo_file(photo, settings.capture, settings.archive.max_import_pixels,
                                            settings.archive.max_stored_side)
    return context.archive.add_painting(rectified, parents=args.parent, title=args.title or Path(photo).stem,
                                        author=author, source_name=Path(photo).name, capture=capture)


def print_tree(args: argparse.Namespace, context) -> int:
    nodes = context.archive.nodes(include_hidden=args.all)
    if not nodes:
        context.say("cli.empty_archive")
        return 0
    for depth, node in walk_tree(nodes):
        print("    " * depth + describe_node(node, context.texts))
    return 0


def describe_node(node, texts) -> str:
    marks = [texts(f"flag.{flag}") for flag in ("chosen", "hidden", "demo") if getattr(node, flag)]
    extra = f" [{', '.join(marks)}]" if marks else ""
    others = [p for p in node.parents[1:]]
    also = f" (+{', '.join(map(str, others))})" if others else ""
    return (f"{node.id}  {texts('kind.' + node.kind)}  {texts('show.generation').lower()} "
            f"{node.generation}  {node.title}{extra}{also}")


def show_node(args: argparse.Namespace, context) -> int:
    archive, texts = context.archive, context.texts
    node = archive.node(args.node)
    children = [child.id for child in archive.children(node.id)]
    none = texts("show.none")
    rows = [
        ("id", node.id),
        ("kind", texts("kind." + node.kind)),
        ("generation", node.generation),
        ("title", node.title),
        ("author", node.author),
        ("created", node.created_at),
        ("parents", ", ".join(map(str, node.parents)) or none),
        ("children", ", ".join(map(str, children)) or none),
        ("size", f"{node.width} x {node.height} px"),
        ("image", archive.image_path(node)),
        ("flags", ", ".join(texts(f"flag.{f}") for f in ("chosen", "hidden", "demo")
                            if getattr(node, f)) or none),
    ]
    width = max(len(texts(f"show.{key}")) for key, _ in rows)
    for key, value in rows:
        print(f"{texts('show.' + key):<{width}}  {value}")
    print(texts("show.provenance") + ":")
    for key, value in node.provenance.items():
        print(f"  {key}: {value}")
    return 0


def set_flag(args: argparse.Namespace, context) -> int:
    value = not args.undo
    node = context.archive.set_flag(args.node, args.flag, value)
    key = {("chosen", True): "cli.chosen", ("chosen", False): "cli.unchosen",
           ("hidden", True): "cli.hidden", ("hidden", False): "cli.unhidden"}[(args.flag, value)]
    context.say(key, node_id=node.id)
    return 0


def set_title(args: argparse.Namespace, context) -> int:
    node = context.archive.set_title(args.node, args.text)
    print(describe_node(node, context.texts))
    return 0


def export_archive(args: argparse.Namespace, context) -> int:
    from installation.export import export_genealogy

    count = export_genealogy(context.archive, args.folder, context.texts, args.thumbnail)
    context.say("cli.exported", nodes=count, path=args.folder)
    return 0


def verify_archive(args: argparse.Namespace, context) -> int:
    archive = context.archive
    report = archive.verify()
    if report.ok:
        context.say("cli.verify_ok", path=archive.folder, nodes=report.nodes)
    else:
        context.say("cli.verify_failed", path=archive.folder, count=len(report.errors))
        for error in report.errors:
            print("  " + error)
    if report.orphans:
        context.say("cli.verify_orphans", count=len(report.orphans))
    if report.temporaries:
        context.say("cli.verify_temporaries", count=len(report.temporaries))
    if args.repair and (report.orphans or report.temporaries):
        moved = archive.repair(report)
        context.say("cli.verify_repaired", moved=len(moved), folder=archive.folder / "orphans",
                    deleted=len(report.temporaries))
    return 0 if report.ok else 1
