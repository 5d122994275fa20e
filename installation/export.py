"""Export of the whole genealogy: every image, `genealogy.json` and a family-tree picture."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from PIL import Image

from installation.archive import write_atomic
from installation.familytree import draw_family_tree
from installation.texts import TwowayError

log = logging.getLogger(__name__)


def export_genealogy(archive, folder: Path, texts, thumbnail_side: int = 160) -> int:
    """Write the export into an empty or new `folder`; return the number of nodes."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise TwowayError("errors.export_target_not_empty", path=folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)

    nodes = archive.nodes(include_hidden=True)
    records = []
    for node in nodes:
        name = f"images/{node.id:05d}-{_slug(node.title)}.png"
        write_atomic(folder / name, archive.image_path(node).read_bytes())
        record = node.as_json()
        record["export_image"] = name
        records.append(record)

    document = {"format": "twoway-genealogy", "version": 1, "nodes": records}
    write_atomic(folder / "genealogy.json",
                 json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"))

    def thumbnail_of(node) -> Image.Image:
        return Image.open(archive.thumbnail(node, thumbnail_side)).convert("RGB")

    tree = draw_family_tree(nodes, thumbnail_of, thumbnail_side, texts)
    tree.save(folder / "family-tree.png")
    log.info("exported %d nodes to %s", len(nodes), folder)
    return len(nodes)


def _slug(title: str) -> str:
    """A file-name-safe form of a title; accented letters are kept."""
    slug = re.sub(r"[^\w\-]+", "-", title, flags=re.UNICODE).strip("-").lower()
    return slug[:60] or "untitled"
