"""Family-tree layout and picture: generations as rows, each child under its first parent."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Placement:
    """A node's position in the tree, in slot units: column `x` (may be fractional) and row `generation`."""

    node_id: int
    x: float
    generation: int


def walk_tree(nodes) -> list:
    """Return (depth, node) pairs in depth-first order, each node under its first parent.

    A node whose first parent is missing (hidden) is shown at the top level.
    """
    by_id = {node.id: node for node in nodes}
    children: dict[int, list] = {}
    roots = []
    for node in nodes:
        parent = next((p for p in node.parents if p in by_id), None)
        (children.setdefault(parent, []) if parent is not None else roots).append(node)

    order = []
    stack = [(0, node) for node in reversed(roots)]
    while stack:
        depth, node = stack.pop()
        order.append((depth, node))
        stack.extend((depth + 1, child) for child in reversed(children.get(node.id, [])))
    return order


def layout_tree(nodes) -> dict[int, Placement]:
    """Place nodes so each parent is centred over its children and no two overlap.

    Leaves take consecutive columns in depth-first order; a parent takes the mean
    column of its children. A node with several parents is placed under the first.
    """
    by_id = {node.id: node for node in nodes}
    children: dict[int | None, list[int]] = {}
    for node in nodes:
        parent = next((p for p in node.parents if p in by_id), None)
        children.setdefault(parent, []).append(node.id)

    placements: dict[int, Placement] = {}
    next_column = 0.0
    # Iterative post-order walk, so deep genealogies do not hit the recursion limit.
    stack = [(root, False) for root in reversed(children.get(None, []))]
    while stack:
        node_id, expanded = stack.pop()
        kids = children.get(node_id, [])
        if not expanded and kids:
            stack.append((node_id, True))
            stack.extend((kid, False) for kid in reversed(kids))
            continue
        if kids:
            x = sum(placements[kid].x for kid in kids) / len(kids)
        else:
            x, next_column = next_column, next_column + 1
        placements[node_id] = Placement(node_id, x, by_id[node_id].generation)
    return placements


def draw_family_tree(nodes, thumbnail_of, side: int = 160, texts=None) -> Image.Image:
    """Draw the genealogy with a thumbnail per node; `thumbnail_of(node)` returns a PIL image."""
    placements = layout_tree(nodes)
    if not placements:
        return Image.new("RGB", (side, side), "white")
    gap = side // 4
    columns = max(p.x for p in placements.values()) + 1
    rows = max(p.generation for p in placements.values()) + 1
    label = side // 6
    width = int(columns * (side + gap) + gap)
    height = int(rows * (side + label + gap * 2) + gap)
    picture = Image.new("RGB", (width, height), (246, 242, 234))
    draw = ImageDraw.Draw(picture)

    def centre(placement: Placement) -> tuple[int, int]:
        return (int(gap + placement.x * (side + gap) + side / 2),
                int(gap + placement.generation * (side + label + gap * 2) + side / 2))

    # Lines first, so thumbnails cover their ends.
    for node in nodes:
        for parent in node.parents:
            if parent in placements:
                draw.line([centre(placements[parent]), centre(placements[node.id])],
                          fill=(120, 110, 100), width=3)
    for node in nodes:
        cx, cy = centre(placements[node.id])
        thumb = thumbnail_of(node).copy()
        thumb.thumbnail((side, side))
        picture.paste(thumb, (cx - thumb.width // 2, cy - thumb.height // 2))
        outline = (200, 60, 40) if node.chosen else (60, 60, 60)
        draw.rectangle([cx - thumb.width // 2 - 2, cy - thumb.height // 2 - 2,
                        cx + thumb.width // 2 + 1, cy + thumb.height // 2 + 1], outline=outline, width=2)
        kind = texts(f"kind.{node.kind}") if texts else node.kind
        draw.text((cx - side // 2, cy + side // 2 + 4), f"{node.id} · {kind}", fill=(30, 30, 30))
    return picture
