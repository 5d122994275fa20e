"""Captions: what a node is, in the primary language and an optional second one.

A caption has a first line (kind and author or network, generation) and a
second with the title and date, then the same in the second language, smaller.
Rendered surfaces are cached per node and language, so drawing is one blit.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging

import pygame

from installation.texts import Texts

log = logging.getLogger(__name__)

TEXT_COLOUR = (240, 236, 228)
SHADOW_COLOUR = (0, 0, 0)
PANEL_ALPHA = 150
CACHED_PANELS = 8  # caption and message panels kept rendered; a 1080p panel takes about 1 MB


def font_with_height(pixels: int) -> pygame.font.Font:
    """Return pygame's bundled font sized so that one line is about `pixels` high.

    pygame's size argument is not the line height (size 40 gives lines of about
    27 pixels), so the size is found by measuring.
    """
    size = max(4, round(pixels * 1.45))
    font = pygame.font.Font(None, size)
    while font.get_height() < pixels and size < 1000:
        size += 1
        font = pygame.font.Font(None, size)
    return font


def caption_lines(node, texts: Texts, artist: str = "", made_for_visitor: bool = False) -> list[str]:
    """Return the caption of a node in one language, as lines of text."""
    if node.kind == "painting":
        author = node.author or artist or texts("display.unknown_artist")
        first = texts("display.caption_painting", author=author)
    else:
        first = texts("display.caption_machine", network=node.provenance.get("network", node.author))
    first += " · " + texts("display.caption_generation", generation=node.generation)
    second = " · ".join(part for part in (node.title, format_date(node.created_at, texts)) if part)
    lines = [first]
    if second:
        lines.append(second)
    if made_for_visitor:
        lines.append(texts("display.made_for_visitor"))
    return lines


def format_date(iso: str, texts: Texts) -> str:
    """Format an ISO 8601 timestamp as a day, month name and year in the language of `texts`."""
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return ""
    months = texts("display.months").split(",")
    month = months[moment.month - 1].strip() if len(months) == 12 else str(moment.month)
    return texts("display.date", day=moment.day, month=month, year=moment.year)


class TextKey(str):
    """A text key given as a parameter of another text, translated into each caption language."""


class Captions:
    """Renders and caches caption panels for nodes."""

    def __init__(self, screen_size: tuple[int, int], line_px: int, languages: tuple[str, ...],
                 artist: str = ""):
        self.screen_size = screen_size
        self.artist = artist
        self.languages = languages
        self.primary_font = font_with_height(line_px)
        self.second_font = font_with_height(max(12, round(line_px * 0.75)))
        # Least recently used panels are dropped first, so memory stays flat as the archive grows.
        self._cache: collections.OrderedDict[tuple, pygame.Surface] = collections.OrderedDict()

    def set_languages(self, languages: tuple[str, ...]) -> None:
        if languages != self.languages:
            self.languages = languages
            self._cache.clear()

    def panel(self, node, made_for_visitor: bool = False) -> pygame.Surface:
        """Return the caption panel of a node: a translucent band with one block per language."""
        key = (node.id, node.title, node.kind, made_for_visitor, self.languages)
        panel = self._cached(key)
        if panel is None:
            panel = self._store(key, self._render(node, made_for_visitor))
        return panel

    def _cached(self, key: tuple) -> pygame.Surface | None:
        panel = self._cache.get(key)
        if panel is not None:
            self._cache.move_to_end(key)
        return panel

    def _store(self, key: tuple, panel: pygame.Surface) -> pygame.Surface:
        self._cache[key] = panel
        while len(self._cache) > CACHED_PANELS:
            self._cache.popitem(last=False)
        return panel

    def _render(self, node, made_for_visitor: bool) -> pygame.Surface:
        rendered = []
        for number, language in enumerate(self.languages):
            font = self.primary_font if number == 0 else self.second_font
            texts = Texts(language)
            for line in caption_lines(node, texts, self.artist, made_for_visitor):
                rendered.append(font.render(line, True, TEXT_COLOUR))
        return framed_text(rendered, self.screen_size[0])

    def message(self, key: str, params: dict) -> pygame.Surface:
        """Return a panel with the text `key` in each configured language."""
        cache_key = ("message", key, tuple(sorted(params.items())), self.languages)
        panel = self._cached(cache_key)
        if panel is None:
            lines = []
            for number, language in enumerate(self.languages):
                texts = Texts(language)
                values = {name: texts(value) if isinstance(value, TextKey) else value
                          for name, value in params.items()}
                font = self.primary_font if number == 0 else self.second_font
                lines.append(font.render(texts(key, **values), True, TEXT_COLOUR))
            panel = self._store(cache_key, framed_text(lines, self.screen_size[0]))
        return panel

    def draw(self, screen: pygame.Surface, panel: pygame.Surface, alpha: int = 255) -> None:
        """Draw a caption panel at the bottom of the screen, faded to `alpha` (0 to 255)."""
        if alpha <= 0:
            return
        panel.set_alpha(None if alpha >= 255 else alpha)
        rect = panel.get_rect(midbottom=(screen.get_width() // 2, screen.get_height()))
        screen.blit(panel, rect)


def framed_text(lines: list[pygame.Surface], max_width: int, padding: int = 14,
                align: str = "centre") -> pygame.Surface:
    """Stack text surfaces on a dark translucent panel, so text reads on any image.

    `align` is "centre" or "left".
    """
    width = min(max_width, max(line.get_width() for line in lines) + 2 * padding)
    height = sum(line.get_height() for line in lines) + 2 * padding
    panel = pygame.Surface((width, height), pygame.SRCALPHA)
    panel.fill((0, 0, 0, PANEL_ALPHA))
    y = padding
    for line in lines:
        if align == "left":
            panel.blit(line, (padding, y))
        else:
            panel.blit(line, line.get_rect(midtop=(width // 2, y)))
        y += line.get_height()
    return panel
