"""Scenes of the kiosk: the genealogy walk, the generating scene and the live camera.

A scene has `update(now, dt)` (seconds) and `draw(screen)`, and reads what it
shows from the `App` (stills, morphs, captions, genealogy). Scenes read only
caches and request what is missing, so drawing does not wait for images.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np
import pygame

from installation.display.blend import draw_centred
from installation.display.captions import TextKey, font_with_height, framed_text
from installation.display.framecache import BGRX_MASKS, surface_from_bgrx, write_bgrx
from installation.display.loader import to_bgrx
from installation.frames import fit_size

log = logging.getLogger(__name__)


def ease(x: float) -> float:
    """Smoothstep: 0 at 0, 1 at 1, with zero slope at both ends."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


class Scene:
    name = ""

    def __init__(self, app):
        self.app = app

    def enter(self) -> None:
        """Called when the scene becomes the one on screen."""

    def update(self, now: float, dt: float) -> None:
        pass

    def draw(self, screen: pygame.Surface) -> None:
        screen.fill(self.app.background)


class WalkScene(Scene):
    """The attract loop: hold a node, morph into the next one in walk order, repeat.

    Time in this scene runs on its own clock, scaled by the speed command and
    stopped while paused.
    """

    name = "walk"

    def __init__(self, app):
        super().__init__(app)
        self.clock = 0.0  # scene seconds, scaled by speed, frozen while paused
        self._start_hold()
        self.target: int | None = None
        self.morph_duration = app.settings.display.morph_s

    def update(self, now: float, dt: float) -> None:
        app = self.app
        if not app.paused:
            self.clock += dt * app.time_scale
        genealogy = app.genealogy
        if genealogy is None or not len(genealogy):
            return
        if app.node_id not in genealogy:
            app.show_node(genealogy.root)
            self._start_hold()

        elapsed = self.clock - self.phase_start
        if self.phase == "hold":
            upcoming = genealogy.next_of(app.node_id)
            app.stills.get(app.node_id)
            has_next = upcoming is not None and upcoming != app.node_id
            if has_next:
                # Ask early, so the morph's frames are rendered while this image holds.
                app.stills.get(upcoming)
                app.morphs.request(app.node_id, upcoming)
            if self._breath_node != app.node_id:
                self._breath_node, self._breath_requested, self._breath_from = app.node_id, False, None
            # The worker renders one morph at a time, so the breathing waits for the next morph.
            if not self._breath_requested and self.breathes(app.node_id) and (
                    not has_next or app.morphs.is_complete((app.node_id, upcoming))):
                self._breath_requested = True
                app.morphs.request_breath(app.node_id)
            breath = (app.node_id, app.node_id)
            if self._breath_from is None and app.morphs.is_complete(breath):
                self._breath_from = self.clock
            if has_next and elapsed >= self.hold_duration(app.node_id):
                self.jump(upcoming)
        elif self.phase == "morph" and elapsed >= self.morph_duration:
            app.show_node(self.target)
            self.target = None
            self._start_hold()

    def breathes(self, node_id: int) -> bool:
        """Return whether a held node moves gently: a machine image with a latent, with a worker to decode it."""
        node = self.app.genealogy.node(node_id)
        return (self.app.worker is not None and node is not None and node.kind == "machine"
                and bool(node.provenance.get("latent")))

    def breath_position(self) -> float:
        """Return where in its breathing frames (0 to 1) the held node is now.

        The frames play forward and back, one way per morph_s seconds. The
        motion swells in over transition_s seconds once the frames are there and
        settles back to frame 0, the still, by the end of the hold, so neither
        end jumps.
        """
        if self._breath_from is None:
            return 0.0
        display = self.app.settings.display
        since = self.clock - self._breath_from
        left = self.hold_duration(self.app.node_id) - (self.clock - self.phase_start)
        strength = max(0.0, min(1.0, since / display.transition_s, left / display.transition_s))
        sweep = (since / display.morph_s) % 2.0
        return strength * (sweep if sweep <= 1.0 else 2.0 - sweep)

    def hold_duration(self, node_id: int) -> float:
        node = self.app.genealogy.node(node_id)
        hold = self.app.settings.display.hold_s
        return hold * self.app.settings.display.chosen_hold_factor if node and node.chosen else hold

    def jump(self, target: int | None, duration: float | None = None) -> None:
        """Morph from the node on screen to `target` (over `duration` seconds, default morph_s)."""
        app = self.app
        if target is None or target == app.node_id or app.node_id is None:
            if target is not None:
                app.show_node(target)
            return
        if self.phase == "morph" and self.target is not None:
            app.show_node(self.target)  # a jump during a morph starts from where it was going
        self.target = target
        self.phase = "morph"
        self.phase_start = self.clock
        self.morph_duration = duration or app.settings.display.morph_s
        app.morphs.request(app.node_id, target)
        app.stills.get(target)

    def _start_hold(self) -> None:
        self.phase = "hold"
        self.phase_start = self.clock
        self._breath_node: int | None = None  # the held node the breathing fields below are about
        self._breath_requested = False  # its breathing frames were requested in this hold
        self._breath_from: float | None = None  # scene clock when its frames were all there

    def draw(self, screen: pygame.Surface) -> None:
        app = self.app
        if app.node_id is None:
            screen.fill(app.background)
            app.draw_message(screen, "display.empty")
            return
        still = app.stills.get(app.node_id)
        if self.phase == "morph" and self.target is not None:
            t = ease((self.clock - self.phase_start) / self.morph_duration)
            if not app.morphs.draw(screen, (app.node_id, self.target), t, still, app.stills.get(self.target)):
                screen.fill(app.background)
            # The old caption fades out over the first third, the new one in over the last third.
            app.draw_caption(screen, app.node_id, 1.0 - min(1.0, t * 3))
            app.draw_caption(screen, self.target, max(0.0, t * 3 - 2))
            return
        breath = (app.node_id, app.node_id)
        if (still is not None and self._breath_node == app.node_id and self._breath_from is not None
                and app.morphs.is_complete(breath)):
            app.morphs.draw(screen, breath, self.breath_position(), still, still)
        elif still is not None:
            draw_centred(screen, still, app.background)
        else:
            screen.fill(app.background)
        fade_in = (self.clock - self.phase_start) / app.settings.display.transition_s
        app.draw_caption(screen, app.node_id, min(1.0, fade_in))


class GeneratingScene(Scene):
    """A visitor's child: the parent dims, the child forms from the worker's previews,
    then the parent morphs into the finished child, captioned as made just now."""

    name = "generating"
    PREVIEWS_PER_SECOND = 6
    DIM_ALPHA = 110  # how much of the parent shows while its child forms, of 255
    DIM_STRIPS = 4

    def __init__(self, app):
        super().__init__(app)
        self.parent_id: int | None = None
        self.child_id: int | None = None
        self.state = "idle"  # "waiting", "morph", "hold", "failed", "idle"
        self.state_start = 0.0
        self.fraction = 0.0
        self.preview: pygame.Surface | None = None
        self._preview_at = -1.0
        self._dimmed_surface: pygame.Surface | None = None
        self._dimmed_of: pygame.Surface | None = None  # the parent still `_dimmed_surface` is made from
        self._dimmed_strips = 0  # strips of `_dimmed_surface` made so far
        self._buffers: dict[str, pygame.Surface] = {}
        self._previews_made = 0
        self._label: tuple[str, pygame.Surface] | None = None  # the status text and its rendered panel
        self.reason = ""
        self.font = font_with_height(max(24, round(app.settings.display.caption_px * 1.2 * app.screen_size[1] / 1080)))

    def begin(self, parent_id: int, now: float) -> None:
        self.parent_id, self.child_id = parent_id, None
        self.state, self.state_start = "waiting", now
        self.fraction, self.preview = 0.0, None
        self.app.stills.get(parent_id)

    def progress(self, fraction: float, preview: np.ndarray | None, now: float) -> None:
        self.fraction = max(self.fraction, float(fraction))
        if preview is None or now - self._preview_at < 1.0 / self.PREVIEWS_PER_SECOND:
            return
        self._preview_at = now
        self.preview = self._preview_surface(preview)
        self.app.morphs.blender.rest_this_frame()  # scaling the preview was this frame's full-size work

    def _preview_surface(self, preview: np.ndarray) -> pygame.Surface | None:
        if preview.ndim != 3 or preview.shape[2] != 3 or preview.dtype != np.uint8:
            log.warning("ignored preview of shape %s and dtype %s", preview.shape, preview.dtype)
            return None
        small = surface_from_bgrx(cv2.cvtColor(np.ascontiguousarray(preview), cv2.COLOR_RGB2BGRA))
        size = fit_size((preview.shape[1], preview.shape[0]), self.app.screen_size)
        # Two buffers take turns, so a blend still composing from the last preview keeps its pixels.
        self._previews_made += 1
        target = self._buffer(f"preview{self._previews_made % 2}").subsurface((0, 0, *size))
        # Nearest-neighbour scaling is fast, and the blocks show that the image is still coarse.
        return pygame.transform.scale(small, size, target)

    def _buffer(self, name: str) -> pygame.Surface:
        """Return the screen-size surface `name`, made once for the scene's life.

        A new surface would cost the frame that makes it its page faults.
        """
        surface = self._buffers.get(name)
        if surface is None:
            surface = self._buffers[name] = pygame.Surface(self.app.screen_size, 0, 32, BGRX_MASKS)
        return surface

    def prepare(self) -> None:
        """Make the scene's buffers now, before the first frame, rather than when a visitor presses."""
        for name in ("preview0", "preview1", "dimmed", "blank"):
            self._buffer(name)
        self._buffers["blank"].fill(self.app.background)

    def child_ready(self, child_id: int, now: float) -> None:
        self.child_id = child_id
        self.state, self.state_start = "morph", now
        self.app.stills.get(child_id)
        self.app.morphs.request(self.parent_id, child_id, urgent=True)

    def failed(self, reason: str, now: float) -> None:
        self.state, self.state_start, self.reason = "failed", now, reason

    def update(self, now: float, dt: float) -> None:
        app = self.app
        elapsed = now - self.state_start
        settings = app.settings.display
        if self.state == "morph":
            # The morph starts once the child's still is loaded, so it never fades from nothing.
            if app.stills.get(self.child_id) is None:
                self.state_start = now
            elif elapsed >= settings.morph_s:
                self.state, self.state_start = "hold", now
        elif self.state == "hold" and elapsed >= settings.hold_s:
            app.generation_shown(self.child_id)
        elif self.state == "failed" and elapsed >= 5.0:
            app.generation_shown(None)

    def draw(self, screen: pygame.Surface) -> None:
        app = self.app
        now = app.now
        parent = app.stills.get(self.parent_id) if self.parent_id is not None else None
        if self.state in ("waiting", "failed"):
            weight = (80 + 175 * ease(self.fraction)) / 255
            dimmed = self._dimmed(parent) if parent is not None else None
            if dimmed is not None:
                # The dimmed parent and the preview are blended a strip per frame, not drawn each frame.
                app.morphs.blender.draw(screen, dimmed, self.preview, weight,
                                        ("generating", self.parent_id), self._previews_made)
            elif parent is not None:
                app.morphs.blender.draw(screen, self._blank(), parent, self.DIM_ALPHA / 255,
                                        ("dimming", self.parent_id), 0)
            elif self.preview is not None:
                app.morphs.blender.draw(screen, self._blank(), self.preview, weight,
                                        ("generating", None), self._previews_made)
            else:
                screen.fill(app.background)
            key = "display.generating" if self.state == "waiting" else "display.generation_failed"
            self._draw_status(screen, app.texts(key), now)
            return
        t = 1.0 if self.state == "hold" else ease((now - self.state_start) / app.settings.display.morph_s)
        if not app.morphs.draw(screen, (self.parent_id, self.child_id), t, parent, app.stills.get(self.child_id)):
            screen.fill(app.background)
        app.draw_caption(screen, self.child_id, t)

    def _dimmed(self, parent: pygame.Surface) -> pygame.Surface | None:
        """Return the parent blended at alpha 110 over the background, or None while it is being made.

        It is made once per parent, a strip per frame, so no frame pays for a whole blend.
        """
        if self._dimmed_of is not parent:
            self._dimmed_surface = self._buffer("dimmed").subsurface(parent.get_rect())
            self._dimmed_of, self._dimmed_strips = parent, 0
        if self._dimmed_strips < self.DIM_STRIPS:
            step = -(-parent.get_height() // self.DIM_STRIPS)
            strip = pygame.Rect(0, self._dimmed_strips * step, parent.get_width(), step)
            self._dimmed_surface.fill(self.app.background, strip)
            parent.set_alpha(self.DIM_ALPHA)
            self._dimmed_surface.blit(parent, strip, strip)
            parent.set_alpha(None)
            self._dimmed_strips += 1
            if self._dimmed_strips < self.DIM_STRIPS:
                return None
        return self._dimmed_surface

    def _blank(self) -> pygame.Surface:
        if "blank" not in self._buffers:
            self.prepare()
        return self._buffers["blank"]

    def _draw_status(self, screen: pygame.Surface, text: str, now: float) -> None:
        width, height = screen.get_size()
        # A pulsing ring and a progress bar: the machine is visibly at work.
        pulse = 0.5 + 0.5 * math.sin((now - self.state_start) * 4.0)
        radius = round(height * (0.06 + 0.015 * pulse))
        centre = (width // 2, round(height * 0.42))
        pygame.draw.circle(screen, (240, 236, 228), centre, radius, max(3, height // 200))
        bar = pygame.Rect(0, 0, width // 3, max(6, height // 120))
        bar.midtop = (width // 2, centre[1] + radius + height // 30)
        pygame.draw.rect(screen, (90, 90, 90), bar)
        filled = bar.copy()
        filled.width = round(bar.width * min(1.0, self.fraction))
        pygame.draw.rect(screen, (240, 236, 228), filled)
        if self._label is None or self._label[0] != text:
            self._label = (text, framed_text([self.font.render(text, True, (240, 236, 228))], width))
        label = self._label[1]
        screen.blit(label, label.get_rect(midtop=(width // 2, bar.bottom + height // 30)))


class LiveScene(Scene):
    """The camera with the detected canvas outlined, or a clear "no camera" message."""

    name = "live"

    def __init__(self, app):
        super().__init__(app)
        self._frame: pygame.Surface | None = None
        self._frame_buffer: pygame.Surface | None = None  # the screen-size surface camera frames are written into
        self._timestamp = None
        self._corners = None
        self._scale = 1.0

    def update(self, now: float, dt: float) -> None:
        camera = self.app.camera
        if camera is None:
            return
        frame, corners, timestamp = camera.latest()
        if frame is None or timestamp == self._timestamp:
            return
        self._timestamp = timestamp
        size = fit_size((frame.shape[1], frame.shape[0]), self.app.screen_size)
        if self._frame_buffer is None:
            self._frame_buffer = pygame.Surface(self.app.screen_size, 0, 32, BGRX_MASKS)
        # NOTE: camera frames are taken as RGB, the order every other image here uses.
        self._frame = write_bgrx(self._frame_buffer, to_bgrx(frame, size))
        self._scale = size[0] / frame.shape[1]
        self._corners = corners

    def draw(self, screen: pygame.Surface) -> None:
        app = self.app
        screen.fill(app.background)
        camera = app.camera
        if camera is None or self._frame is None:
            state = camera.state if camera is not None else "none"
            app.draw_message(screen, "display.no_camera", state=TextKey(f"display.camera_{state}"))
            return
        rect = self._frame.get_rect(center=screen.get_rect().center)
        screen.blit(self._frame, rect)
        if self._corners is not None and len(self._corners) == 4:
            points = [(rect.left + x * self._scale, rect.top + y * self._scale) for x, y in self._corners]
            pygame.draw.lines(screen, (250, 200, 60), True, points, max(2, screen.get_height() // 270))
