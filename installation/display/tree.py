"""The tree scene: the family tree with thumbnails, the node on screen highlighted.

Nodes keep a legible size: thumbnails of `display.tree_thumbnail_px` and labels
32 pixels high on a 1080-line screen. A tree larger than the screen is panned,
easing toward the highlighted node, rather than shrunk. Only the nodes in view
are drawn.
"""

from __future__ import annotations

import collections
import logging

import pygame

from installation.display.captions import font_with_height
from installation.display.framecache import surface_from_bgrx
from installation.display.scenes import Scene
from installation.familytree import layout_tree

log = logging.getLogger(__name__)

LINE_COLOUR = (120, 110, 100)
FRAME_COLOUR = (70, 70, 70)
CHOSEN_COLOUR = (200, 60, 40)
HIGHLIGHT_COLOUR = (250, 200, 60)
LABEL_COLOUR = (220, 216, 208)
KEPT_THUMBNAILS = 400  # more than a 1080p screen shows at once


class TreeScene(Scene):
    name = "tree"

    def __init__(self, app):
        super().__init__(app)
        height = app.screen_size[1]
        # Sizes scale with the screen height so the tree reads the same on any screen.
        self.side = max(48, round(app.settings.display.tree_thumbnail_px * height / 1080))
        self.gap = self.side // 3
        # Labels 32 pixels high on a 1080-line screen: an estimate of what reads from three metres.
        self.font = font_with_height(max(16, round(32 * height / 1080)))
        self.label_height = self.font.get_linesize()
        # Least recently drawn first out: the tree of a long show outgrows what is worth keeping.
        self.thumbnails: collections.OrderedDict[int, pygame.Surface] = collections.OrderedDict()
        self.labels: dict[int, pygame.Surface] = {}
        self._layout_for = None
        self.positions: dict[int, tuple[float, float]] = {}  # node centre in tree pixels
        self.extent = (0, 0)  # tree width and height in pixels
        self.camera = None  # tree pixel at the screen centre

    def _cell(self) -> tuple[int, int]:
        return self.side + self.gap, self.side + self.label_height + self.gap

    def _relayout(self) -> None:
        genealogy = self.app.genealogy
        if genealogy is self._layout_for:
            return
        self._layout_for = genealogy
        visible = [node for node in genealogy.all_nodes.values() if not node.hidden]
        placements = layout_tree(visible)
        cell_w, cell_h = self._cell()
        self.positions = {node_id: (self.gap + p.x * cell_w + self.side / 2,
                                    self.gap + p.generation * cell_h + self.side / 2)
                          for node_id, p in placements.items()}
        if self.positions:
            self.extent = (max(x for x, _ in self.positions.values()) + self.side / 2 + self.gap,
                           max(y for _, y in self.positions.values()) + self.side / 2 + self.label_height + self.gap)
        self.labels.clear()

    def update(self, now: float, dt: float) -> None:
        if self.app.genealogy is None:
            return
        self._relayout()
        for loaded in self.app.take_loaded("thumbnail"):
            node_id, side = loaded.key
            if loaded.value is not None and side == self.side:
                self.thumbnails[node_id] = surface_from_bgrx(loaded.value)
                while len(self.thumbnails) > KEPT_THUMBNAILS:
                    self.thumbnails.popitem(last=False)
        target = self._camera_target()
        if self.camera is None:
            self.camera = target
        else:
            # Ease toward the target: about a third of the way each tenth of a second.
            k = 1.0 - 0.02 ** dt
            self.camera = (self.camera[0] + (target[0] - self.camera[0]) * k,
                           self.camera[1] + (target[1] - self.camera[1]) * k)

    def _camera_target(self) -> tuple[float, float]:
        width, height = self.app.screen_size
        focus = self.positions.get(self.app.node_id, (self.extent[0] / 2, self.extent[1] / 2))
        return (_clamped_centre(focus[0], self.extent[0], width),
                _clamped_centre(focus[1], self.extent[1], height))

    def draw(self, screen: pygame.Surface) -> None:
        app = self.app
        screen.fill(app.background)
        if app.genealogy is None or not self.positions or self.camera is None:
            app.draw_message(screen, "display.empty")
            return
        width, height = screen.get_size()
        offset = (width / 2 - self.camera[0], height / 2 - self.camera[1])
        view = pygame.Rect(-self.side, -self.side, width + 2 * self.side, height + 2 * self.side)
        line_width = max(2, height // 360)

        for node_id, (x, y) in self.positions.items():
            node = app.genealogy.node(node_id)
            for parent in node.parents:
                if parent in self.positions:
                    px, py = self.positions[parent]
                    start = (px + offset[0], py + offset[1] + self.side / 2)
                    end = (x + offset[0], y + offset[1] - self.side / 2)
                    if view.collidepoint(start) or view.collidepoint(end):
                        pygame.draw.line(screen, LINE_COLOUR, start, end, line_width)

        for node_id, (x, y) in self.positions.items():
            centre = (round(x + offset[0]), round(y + offset[1]))
            if view.collidepoint(centre):
                self._draw_node(screen, node_id, centre, line_width)

    def _draw_node(self, screen: pygame.Surface, node_id: int, centre: tuple[int, int], line_width: int) -> None:
        app = self.app
        node = app.genealogy.node(node_id)
        thumbnail = self.thumbnails.get(node_id)
        if thumbnail is None:
            app.loader.request("thumbnail", (node_id, self.side))
            box = pygame.Rect(0, 0, self.side, self.side)
        else:
            self.thumbnails.move_to_end(node_id)
            box = thumbnail.get_rect()
        box.center = centre
        if thumbnail is not None:
            screen.blit(thumbnail, box)
        if node_id == app.node_id:
            colour, width = HIGHLIGHT_COLOUR, line_width * 3
        else:
            colour, width = (CHOSEN_COLOUR if node.chosen else FRAME_COLOUR), line_width
        pygame.draw.rect(screen, colour, box.inflate(2 * width, 2 * width), width)
        label = self.labels.get(node_id)
        if label is None:
            kind = app.texts(f"kind.{node.kind}")
            label = self.font.render(f"{node_id} · {kind}", True, LABEL_COLOUR)
            self.labels[node_id] = label
        screen.blit(label, label.get_rect(midtop=(centre[0], centre[1] + self.side // 2 + width + 2)))


def _clamped_centre(focus: float, extent: float, screen: float) -> float:
    """Return the view centre along one axis: the middle if the tree fits, else near `focus` within bounds."""
    if extent <= screen:
        return extent / 2
    return min(max(focus, screen / 2), extent - screen / 2)
