"""The calibration window: a camera frame with the canvas corners, dragged by mouse.

Controls: drag a corner with the mouse; Enter saves; D detects the canvas again;
Escape or closing the window leaves without saving.
"""

from __future__ import annotations

import logging

import numpy as np
import pygame

from installation.capture.camera import find_canvas
from installation.capture.rectify import order_corners
from installation.config import CaptureSettings
from installation.texts import Texts

log = logging.getLogger(__name__)

GRAB_PIXELS = 24  # how near the mouse must be to a corner to pick it up, screen pixels


def edit_corners(frame: np.ndarray, settings: CaptureSettings, texts: Texts) -> np.ndarray | None:
    """Let the artist confirm or drag the corners; return them (frame pixels) or None if cancelled."""
    pygame.init()
    try:
        return _loop(frame, settings, texts)
    finally:
        pygame.quit()


def _loop(frame: np.ndarray, settings: CaptureSettings, texts: Texts) -> np.ndarray | None:
    info = pygame.display.Info()
    scale = min(0.9 * info.current_w / frame.shape[1], 0.9 * info.current_h / frame.shape[0], 1.0)
    size = (int(frame.shape[1] * scale), int(frame.shape[0] * scale))
    screen = pygame.display.set_mode(size)
    pygame.display.set_caption(texts("capture.calibrate_help"))
    picture = pygame.transform.smoothscale(pygame.surfarray.make_surface(frame.swapaxes(0, 1)), size)
    corners = _initial(frame, settings) * scale
    font = pygame.font.Font(None, max(18, size[1] // 30))
    dragged: int | None = None
    clock = pygame.time.Clock()
    while True:
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                return None
            if event.type == pygame.KEYDOWN and event.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
                return order_corners(corners / scale)
            if event.type == pygame.KEYDOWN and event.key == pygame.K_d:
                detected = find_canvas(frame, settings)
                if detected.found:
                    corners = detected.corners * scale
            if event.type == pygame.MOUSEBUTTONDOWN:
                distances = np.linalg.norm(corners - np.array(event.pos), axis=1)
                nearest = int(np.argmin(distances))
                dragged = nearest if distances[nearest] < GRAB_PIXELS else None
            if event.type == pygame.MOUSEBUTTONUP:
                dragged = None
            if event.type == pygame.MOUSEMOTION and dragged is not None:
                corners[dragged] = event.pos

        screen.blit(picture, (0, 0))
        pygame.draw.lines(screen, (250, 200, 60), True, corners.tolist(), 2)
        for x, y in corners:
            pygame.draw.circle(screen, (250, 80, 60), (int(x), int(y)), 8, 2)
        screen.blit(font.render(texts("capture.calibrate_help"), True, (255, 255, 255), (0, 0, 0)), (8, 8))
        pygame.display.flip()
        clock.tick(30)


def _initial(frame: np.ndarray, settings: CaptureSettings) -> np.ndarray:
    """Start from the fixed corners, else the detected ones, else a centred rectangle."""
    detection = find_canvas(frame, settings)
    if detection.found:
        return detection.corners.astype(np.float64)
    height, width = frame.shape[:2]
    return np.array([[0.25 * width, 0.25 * height], [0.75 * width, 0.25 * height],
                     [0.75 * width, 0.75 * height], [0.25 * width, 0.75 * height]])
