"""Cross-fades of two centred images, composed a few strips per frame so no frame pays for a whole blend.

A per-surface alpha blit of a full-screen image costs several times an opaque
blit, so a cross-fade drawn directly every frame takes most of the frame's work.
`Blender` instead keeps the last finished blend in a screen-size surface, which
each frame copies with one opaque blit. It composes the next blend into a second
surface, one horizontal strip per frame, and swaps the two when it is complete.
The blend on screen is therefore a few frames behind the requested weight,
which is not visible in a morph lasting seconds.
"""

from __future__ import annotations

import pygame

ALPHA_STEPS = 64  # blend weights are rounded to 1/64, so a held weight needs no new blend


def fill_around(screen: pygame.Surface, rect: pygame.Rect, colour) -> None:
    """Fill the parts of `screen` outside `rect` with `colour` (the letterbox bars)."""
    width, height = screen.get_size()
    top, bottom = max(0, rect.top), min(height, rect.bottom)
    for bar in (pygame.Rect(0, 0, width, top), pygame.Rect(0, bottom, width, height - bottom),
                pygame.Rect(0, top, max(0, rect.left), bottom - top),
                pygame.Rect(rect.right, top, width - rect.right, bottom - top)):
        if bar.width > 0 and bar.height > 0:
            screen.fill(colour, bar)


def draw_centred(screen: pygame.Surface, surface: pygame.Surface, background) -> None:
    """Draw `surface` opaque in the middle of `screen` and fill only the bars around it."""
    surface.set_alpha(None)
    rect = surface.get_rect(center=screen.get_rect().center)
    fill_around(screen, rect, background)
    screen.blit(surface, rect)


class Blender:
    """The blend of `top` at a weight over `base`, both centred on a `size` screen; see the module doc."""

    def __init__(self, size: tuple[int, int], background, strips: int = 4):
        self.size = size
        self.background = tuple(background[:3])
        self.strips = max(1, strips)
        self._front: pygame.Surface | None = None  # made by prepare(), in the screen's format
        self._back: pygame.Surface | None = None
        self._pair = None
        self._front_key = None
        self._building: list | None = None  # [key, base, top, alpha, next strip]
        self._pending: tuple | None = None  # the latest (key, base, top, alpha) requested while building
        self.blends = 0  # completed blends, for tests and the benchmark
        self._rest = False  # skip the next strip: the frame already copied a full-size image

    def draw(self, screen: pygame.Surface, base: pygame.Surface, top: pygame.Surface | None,
             weight: float, pair, frames) -> None:
        """Draw `top` at `weight` (0 to 1) over `base`.

        `pair` names what is blending (a morph's two nodes); a new pair shows
        at once whichever of its two images the weight is nearer. `frames` names the two surfaces within the pair; when
        they or the weight change, the new blend is composed over the next frames.
        """
        steps = 0 if top is None else round(min(max(weight, 0.0), 1.0) * ALPHA_STEPS)
        alpha = steps * 255 // ALPHA_STEPS
        requested = (frames, alpha)
        self.prepare(screen)
        if pair != self._pair or self._front_key is None:
            # A new pair shows at once the end of the blend nearer the weight, an opaque
            # copy, and composes the blend itself over the next frames.
            self._pair, self._building, self._pending = pair, None, None
            nearer = 255 if alpha > 127 and top is not None else 0
            self._compose(self._front, base, top, nearer, range(self.strips))
            self._front_key = (frames, nearer)
            if nearer != alpha:
                self._pending = (requested, base, top, alpha)
        elif requested != self._front_key and (self._building is None or self._building[0] != requested):
            self._pending = (requested, base, top, alpha)
        self._advance()
        screen.blit(self._front, (0, 0))

    def prepare(self, screen: pygame.Surface) -> None:
        """Make the two screen-size buffers in the screen's format, unless they fit `screen` already."""
        if self._front is None or self._front.get_size() != screen.get_size():
            self.size = screen.get_size()
            self._front = pygame.Surface(self.size, 0, screen)
            self._back = pygame.Surface(self.size, 0, screen)
            self._pair = None

    def rest_this_frame(self) -> None:
        """Compose no strip in the current frame, which already did other full-size work.

        Copying a morph frame or a still costs about as much as a strip. Frames
        that did both were the slowest, so the strip waits a frame.
        """
        self._rest = True

    def _advance(self) -> None:
        if self._rest:
            self._rest = False
            return
        if self._building is None:
            if self._pending is None:
                return
            self._building = [*self._pending, 0]
            self._pending = None
        key, base, top, alpha, strip = self._building
        self._compose(self._back, base, top, alpha, (strip,))
        self._building[4] = strip + 1
        if strip + 1 >= self.strips:
            self._front, self._back = self._back, self._front
            self._front_key = key
            self._building = None

    def _compose(self, target: pygame.Surface, base: pygame.Surface, top: pygame.Surface | None,
                 alpha: int, strips) -> None:
        width, height = self.size
        step = -(-height // self.strips)
        centre = target.get_rect().center
        base_rect = base.get_rect(center=centre)
        top_rect = top.get_rect(center=centre) if top is not None else base_rect
        base.set_alpha(None)
        for strip in strips:
            target.set_clip(pygame.Rect(0, strip * step, width, step))
            if alpha >= 255 and top is not None:
                fill_around(target, top_rect, self.background)
                top.set_alpha(None)
                target.blit(top, top_rect)
                continue
            if base_rect.contains(top_rect):
                fill_around(target, base_rect, self.background)
            else:
                target.fill(self.background)
            target.blit(base, base_rect)
            if alpha > 0:
                top.set_alpha(alpha)
                target.blit(top, top_rect)
                top.set_alpha(None)
        target.set_clip(None)
        if strips[-1] == self.strips - 1:
            self.blends += 1

    def forget(self) -> None:
        """Drop the blends in progress and on screen, so the next draw composes at once."""
        self._pair = self._front_key = self._building = self._pending = None
