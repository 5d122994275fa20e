"""Cross-fades composed a strip per frame, and letterbox bars filled around an image."""

import pygame
import pytest

from installation.display.blend import Blender, draw_centred, fill_around

SIZE = (40, 30)
BACKGROUND = (12, 12, 12)


def plain(colour, size=(20, 30)):
    surface = pygame.Surface(size)
    surface.fill(colour)
    return surface


@pytest.fixture
def screen():
    return pygame.Surface(SIZE)


def centre(screen):
    return tuple(screen.get_at((SIZE[0] // 2, SIZE[1] // 2)))[:3]


def test_new_pair_shows_nearer_image_first(screen):
    blender = Blender(SIZE, BACKGROUND, strips=2)
    base, top = plain((0, 0, 0)), plain((200, 200, 200))
    shown = []
    for _ in range(2):
        blender.draw(screen, base, top, 0.3, "a", 1)
        shown.append(centre(screen)[0])
    assert shown[0] == 0
    assert 55 <= shown[1] <= 65


def test_new_pair_near_the_top_shows_top_first(screen):
    blender = Blender(SIZE, BACKGROUND, strips=2)
    blender.draw(screen, plain((0, 0, 0)), plain((200, 200, 200)), 0.8, "a", 1)
    assert centre(screen)[0] == 200


def test_new_weight_shows_after_all_strips(screen):
    blender = Blender(SIZE, BACKGROUND, strips=3)
    base, top = plain((0, 0, 0)), plain((200, 200, 200))
    blender.draw(screen, base, top, 0.0, "a", 1)
    shown = []
    for _ in range(3):
        blender.draw(screen, base, top, 1.0, "a", 1)
        shown.append(centre(screen)[0])
    assert shown == [0, 0, 200]


def test_weight_zero_shows_base(screen):
    Blender(SIZE, BACKGROUND).draw(screen, plain((50, 60, 70)), plain((200, 0, 0)), 0.0, "a", 1)
    assert centre(screen) == (50, 60, 70)


def test_missing_top_shows_base(screen):
    Blender(SIZE, BACKGROUND).draw(screen, plain((50, 60, 70)), None, 0.7, "a", 1)
    assert centre(screen) == (50, 60, 70)


def test_blend_fills_letterbox(screen):
    blender = Blender(SIZE, BACKGROUND, strips=1)
    for _ in range(2):
        blender.draw(screen, plain((0, 0, 0)), plain((200, 200, 200)), 0.5, "a", 1)
    assert 95 <= centre(screen)[0] <= 105
    assert tuple(screen.get_at((0, 0)))[:3] == BACKGROUND


def test_fill_around_leaves_inside(screen):
    screen.fill((1, 2, 3))
    fill_around(screen, pygame.Rect(10, 0, 20, 30), BACKGROUND)
    assert tuple(screen.get_at((15, 15)))[:3] == (1, 2, 3)


def test_fill_around_fills_bars(screen):
    screen.fill((1, 2, 3))
    fill_around(screen, pygame.Rect(10, 0, 20, 30), BACKGROUND)
    assert tuple(screen.get_at((35, 15)))[:3] == BACKGROUND


def test_draw_centred_places_image(screen):
    draw_centred(screen, plain((90, 0, 0)), BACKGROUND)
    assert centre(screen) == (90, 0, 0)


def test_rest_delays_the_next_strip(screen):
    blender = Blender(SIZE, BACKGROUND, strips=1)
    base, top = plain((0, 0, 0)), plain((200, 200, 200))
    blender.draw(screen, base, top, 0.0, "a", 1)
    blender.rest_this_frame()
    blender.draw(screen, base, top, 1.0, "a", 2)
    rested = centre(screen)[0]
    blender.draw(screen, base, top, 1.0, "a", 2)
    assert rested == 0
    assert centre(screen)[0] == 200
