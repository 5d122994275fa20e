"""Opening the kiosk window, reading key names from the settings, and keeping the heap from creeping."""

from __future__ import annotations

import ctypes
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


# glibc's mallopt parameter for the size above which a block gets its own mapping.
M_MMAP_THRESHOLD = -3


def return_big_blocks_to_system(threshold_bytes: int = 1 << 20) -> bool:
    """Give every block over `threshold_bytes` its own mapping, returned to the system when freed.

    By default glibc raises that threshold each time a big block is freed, after
    which screen-size images come from the heap and a kiosk's memory creeps up
    for hours as the heap fragments. Setting it fixes the threshold. Returns
    False where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(threshold_bytes)))
    except (OSError, AttributeError):
        return False
