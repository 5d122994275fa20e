"""Opening the kiosk window and reading key names from the settings."""

from __future__ import annotations

import logging

import pygame

from installation.config import DisplaySettings
from installation.texts import TwowayError

log = logging.getLogger(__name__)


def open_window(settings: DisplaySettings, size: tuple[int, int] | None = None) -> pygame.Surface:
    """Open the display surface: fullscreen on one monitor, or a window for development.

    Fullscreen takes the desktop size of `display_index` only, so a second
    monitor is never spanned. `size` (width, height in pixels) forces a window
    of that size, for tests and benchmarks.
    """
    pygame.display.init()
    pygame.font.init()
    displays = pygame.display.get_num_displays()
    index = settings.display_index
    if index >= displays:
        log.warning("display.display_index = %d but only %d displays exist; using display 0", index, displays)
        index = 0

    if size is None and settings.fullscreen:
        size = pygame.display.get_desktop_sizes()[index]
        flags = pygame.FULLSCREEN
    else:
        size = size or (settings.window_width, settings.window_height)
        flags = 0
    pygame.display.set_caption("Two-Way Street")
    screen = pygame.display.set_mode(size, flags, display=index)
    pygame.mouse.set_visible(False)
    pygame.display.set_allow_screensaver(False)
    log.info("window opened: %dx%d on display %d (%s)", screen.get_width(), screen.get_height(), index,
             "fullscreen" if flags & pygame.FULLSCREEN else "windowed")
    return screen


def key_code(setting_name: str, name: str) -> int:
    """Return the pygame key code of a key name from the settings, such as "space" or "f1"."""
    try:
        return pygame.key.key_code(name)
    except ValueError:
        raise TwowayError("display.bad_key", setting=setting_name, name=name) from None
