"""The status overlay for the artist and the notices shown to visitors."""

from __future__ import annotations

import collections
import statistics

import pygame

from installation.display.captions import font_with_height, framed_text

TEXT_COLOUR = (200, 255, 200)
NOTICE_COLOUR = (250, 240, 210)


class FrameStats:
    """Frame times and loop work times (seconds) of the last few hundred frames."""

    def __init__(self, length: int = 600):
        self.frame_times: collections.deque[float] = collections.deque(maxlen=length)
        self.work_times: collections.deque[float] = collections.deque(maxlen=length)

    def add(self, frame_time: float, work_time: float) -> None:
        self.frame_times.append(frame_time)
        self.work_times.append(work_time)

    @property
    def fps(self) -> float:
        recent = list(self.frame_times)[-60:]
        return len(recent) / sum(recent) if recent and sum(recent) > 0 else 0.0

    def percentile_ms(self, which: str, percent: float) -> float:
        values = sorted(self.frame_times if which == "frame" else self.work_times)
        if not values:
            return 0.0
        return 1000.0 * values[min(len(values) - 1, int(len(values) * percent / 100))]

    def median_ms(self) -> float:
        return 1000.0 * statistics.median(self.frame_times) if self.frame_times else 0.0


class StatusOverlay:
    """Lines of state in the top-left corner, redrawn twice a second."""

    def __init__(self, screen_height: int):
        self.font = font_with_height(max(14, screen_height // 45))
        self._panel: pygame.Surface | None = None
        self._drawn_at = -1.0

    def draw(self, screen: pygame.Surface, lines: list[str], now: float) -> None:
        if self._panel is None or now - self._drawn_at >= 0.5:
            rendered = [self.font.render(line, True, TEXT_COLOUR) for line in lines]
            self._panel = framed_text(rendered, screen.get_width(), padding=10, align="left")
            self._drawn_at = now
        screen.blit(self._panel, (10, 10))


class Notice:
    """A short message at the top of the screen, for example the button's acknowledgement."""

    def __init__(self, screen_height: int):
        self.font = font_with_height(max(20, screen_height // 22))
        self._panel: pygame.Surface | None = None
        self.shown_at = 0.0
        self.seconds = 0.0

    def show(self, lines: list[str], now: float, seconds: float = 4.0) -> None:
        rendered = [self.font.render(line, True, NOTICE_COLOUR) for line in lines if line]
        self._panel = framed_text(rendered, 10_000) if rendered else None
        self.shown_at, self.seconds = now, seconds

    def draw(self, screen: pygame.Surface, now: float) -> None:
        if self._panel is None:
            return
        age = now - self.shown_at
        if age >= self.seconds:
            self._panel = None
            return
        # Visible at once (no hard cut: it starts at 60% and fades in, then out at the end).
        alpha = min(1.0, 0.6 + age / 0.15 * 0.4, (self.seconds - age) / 0.5)
        self._panel.set_alpha(round(255 * alpha))
        screen.blit(self._panel, self._panel.get_rect(midtop=(screen.get_width() // 2, screen.get_height() // 20)))
