"""Synthetic camera photos of a painting, with the true canvas corners.

A painting is placed on a generated wall or easel under a random perspective
(up to 35 degrees of tilt), then lit with a gradient, given a colour cast, a
glare spot, a hand over one edge, noise and blur. The benchmark and the tests
use these photos to measure canvas detection against the known corners.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SyntheticPhoto:
    image: np.ndarray  # HxWx3 uint8 RGB
    corners: np.ndarray  # 4x2 float32, the canvas clockwise from top-left, pixels
    description: str


def place_painting(painting: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (1920, 1080),
                   max_tilt_deg: float = 35.0, fraction: tuple[float, float] = (0.2, 0.8),
                   frame: bool | None = None, hand: bool | None = None,
                   glare: bool | None = None) -> SyntheticPhoto:
    """Photograph `painting` (RGB uint8) on a generated wall; None options are drawn at random."""
    width, height = size
    frame = rng.random() < 0.3 if frame is None else frame
    hand = rng.random() < 0.4 if hand is None else hand
    glare = rng.random() < 0.5 if glare is None else glare

    wall, notes = _wall(rng, width, height)
    corners = _pose(painting.shape[1] / painting.shape[0], rng, width, height, max_tilt_deg, fraction)
    if frame:
        wall = _draw_frame(wall, corners, rng)
        notes.append("frame")
    if rng.random() < 0.5:
        wall = _draw_easel(wall, corners, rng)
        notes.append("easel")
    image = _paste(wall, painting, corners, rng)

    if glare:
        image = _add_glare(image, corners, rng)
        notes.append("glare")
    if hand:
        image = _add_hand(image, corners, rng)
        notes.append("hand")
    image = _light_and_camera(image, rng)
    return SyntheticPhoto(image=image, corners=corners.astype(np.float32), description=", ".join(notes))


def _wall(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, list[str]]:
    # A wall colour with low-frequency texture, sometimes a floor and a window.
    base = rng.uniform(120, 235) * rng.uniform(0.85, 1.0, 3)
    texture = cv2.resize(rng.normal(0, rng.uniform(2, 8), (9, 16, 1)).astype(np.float32), (width, height),
                         interpolation=cv2.INTER_CUBIC)
    wall = np.clip(base[None, None, :] + texture[..., None], 0, 255).astype(np.float32)
    notes = ["wall"]
    if rng.random() < 0.4:
        floor_y = int(height * rng.uniform(0.85, 0.97))
        wall[floor_y:] = rng.uniform(40, 140) * rng.uniform(0.7, 1.0, 3)
        notes.append("floor")
    if rng.random() < 0.3:
        side = rng.integers(2)
        x0 = int(width * (0.02 if side == 0 else 0.86))
        y0 = int(height * rng.uniform(0.05, 0.2))
        wall[y0:y0 + int(height * 0.5), x0:x0 + int(width * 0.12)] = rng.uniform(220, 255)
        notes.append("window")
    return wall, notes


def _pose(aspect: float, rng: np.random.Generator, width: int, height: int, max_tilt_deg: float,
          fraction: tuple[float, float]) -> np.ndarray:
    """Project a rectangle of `aspect` (width / height) turned in 3-D; return its 4 image corners."""
    for _ in range(100):
        yaw, pitch = np.radians(rng.uniform(-max_tilt_deg, max_tilt_deg, 2))
        roll = math.radians(rng.uniform(-6, 6))
        rectangle = np.array([[-aspect, -1, 0], [aspect, -1, 0], [aspect, 1, 0], [-aspect, 1, 0]]) / 2
        rotation = cv2.Rodrigues(np.array([pitch, yaw, roll]))[0]
        points = rectangle @ rotation.T + np.array([0, 0, 3.0])
        projected = points[:, :2] / points[:, 2:3]

        # Scale so the canvas spans the drawn fraction of the frame, then place it.
        span = projected.max(0) - projected.min(0)
        target = rng.uniform(*fraction)
        scale = target * min(width / span[0], height / span[1])
        projected = (projected - projected.min(0)) * scale
        room = np.array([width, height]) - projected.max(0)
        if np.any(room < 2):
            continue
        offset = room * np.clip(rng.normal(0.5, 0.15, 2), 0.02, 0.98)
        return (projected + offset).astype(np.float32)
    raise RuntimeError("no pose fits the frame")


def _paste(wall: np.ndarray, painting: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # The canvas may have slightly rounded corners and slightly bent sides.
    height, width = painting.shape[:2]
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    mask = np.full((height, width), 255, np.uint8)
    radius = int(min(width, height) * rng.uniform(0, 0.03))
    if radius > 1:
        mask[:] = 0
        cv2.rectangle(mask, (radius, 0), (width - radius, height), 255, -1)
        cv2.rectangle(mask, (0, radius), (width, height - radius), 255, -1)
        for cx, cy in ((radius, radius), (width - radius, radius), (width - radius, height - radius),
                       (radius, height - radius)):
            cv2.circle(mask, (cx, cy), radius, 255, -1, cv2.LINE_AA)

    # Bend: the sides bow inwards by up to 0.5% of the short side, corners stay put.
    bend = rng.uniform(0, 0.005) * min(width, height)
    if bend > 0.5:
        grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
        bow_y = bend * np.sin(np.pi * grid_x / width) * (2 * grid_y / height - 1)
        bow_x = bend * np.sin(np.pi * grid_y / height) * (2 * grid_x / width - 1)
        painting = cv2.remap(painting, grid_x + bow_x, grid_y + bow_y, cv2.INTER_LINEAR)
        mask = cv2.remap(mask, grid_x + bow_x, grid_y + bow_y, cv2.INTER_LINEAR)

    homography = cv2.getPerspectiveTransform(source, corners)
    size = (wall.shape[1], wall.shape[0])
    warped = cv2.warpPerspective(painting.astype(np.float32), homography, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(mask, homography, size, flags=cv2.INTER_LINEAR).astype(np.float32) / 255
    return wall * (1 - alpha[..., None]) + warped * alpha[..., None]


def _draw_frame(wall: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # A picture frame is a band around the canvas of one colour, darker on its outer rim.
    centre = corners.mean(0)
    band = rng.uniform(0.04, 0.10)
    outer = centre + (corners - centre) * (1 + band)
    colour = rng.choice([[60, 40, 25], [190, 150, 70], [20, 20, 20], [235, 230, 220]]).astype(np.float32)
    cv2.fillConvexPoly(wall, np.round(outer * 16).astype(np.int32), (colour * 0.75).tolist(),
                       cv2.LINE_AA, shift=4)
    middle = centre + (corners - centre) * (1 + band * 0.6)
    cv2.fillConvexPoly(wall, np.round(middle * 16).astype(np.int32), colour.tolist(), cv2.LINE_AA, shift=4)
    return wall


def _draw_easel(wall: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Two wooden legs behind the canvas and a ledge under its bottom side.
    height = wall.shape[0]
    wood = (np.array([110, 75, 40]) * rng.uniform(0.6, 1.2)).tolist()
    thickness = max(3, int(np.linalg.norm(corners[1] - corners[0]) * 0.04))
    top = corners[:2].mean(0)
    for bottom_x in (corners[3][0] - thickness * 2, corners[2][0] + thickness * 2):
        cv2.line(wall, (int(top[0]), int(top[1] - thickness * 4)), (int(bottom_x), height), wood, thickness)
    ledge = np.array([corners[3] + [-thickness, 0], corners[2] + [thickness, 0],
                      corners[2] + [thickness, thickness * 1.5], corners[3] + [-thickness, thickness * 1.5]])
    cv2.fillConvexPoly(wall, np.round(ledge).astype(np.int32), wood)
    return wall


def _add_glare(image: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Specular glare on varnish: a bright, partly saturated ellipse on the canvas.
    weights = rng.dirichlet(np.ones(4))
    centre = weights @ corners
    side = np.linalg.norm(corners[1] - corners[0])
    axes = side * rng.uniform(0.04, 0.12) * np.array([1.0, rng.uniform(0.4, 1.0)])
    grid_y, grid_x = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    spot = np.exp(-(((grid_x - centre[0]) / axes[0]) ** 2 + ((grid_y - centre[1]) / axes[1]) ** 2))
    return image + spot[..., None] * rng.uniform(120, 300)


def _add_hand(image: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # A hand over one side of the canvas, with its arm reaching out of the frame.
    side = rng.integers(4)
    start, end = corners[side], corners[(side + 1) % 4]
    point = start + (end - start) * rng.uniform(0.25, 0.75)
    outward = point - corners.mean(0)
    outward /= np.linalg.norm(outward)
    length = np.linalg.norm(end - start)
    skin = (np.array([200, 150, 120]) * rng.uniform(0.5, 1.1)).tolist()
    palm = max(4, int(length * rng.uniform(0.05, 0.09)))
    centre = point - outward * palm * 0.3
    cv2.ellipse(image, (int(centre[0]), int(centre[1])), (palm, int(palm * 0.8)),
                float(np.degrees(np.arctan2(outward[1], outward[0]))), 0, 360, skin, -1, cv2.LINE_AA)
    elbow = point + outward * max(image.shape[:2]) * 1.5
    cv2.line(image, (int(point[0]), int(point[1])), (int(elbow[0]), int(elbow[1])), skin,
             int(palm * 1.1), cv2.LINE_AA)
    for finger in range(4):
        angle = (finger - 1.5) * 0.35
        direction = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ -outward
        tip = centre + direction * palm * 1.8
        cv2.line(image, (int(centre[0]), int(centre[1])), (int(tip[0]), int(tip[1])), skin,
                 max(2, palm // 4), cv2.LINE_AA)
    return image


def _light_and_camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Light falls off across the scene, the camera adds a colour cast, blur and noise.
    height, width = image.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = ((grid_x / width - 0.5) * np.cos(angle) + (grid_y / height - 0.5) * np.sin(angle))
    light = 1.0 + ramp * rng.uniform(0, 0.6)
    cast = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    image = image * light[..., None] * cast[None, None, :]

    sigma = rng.uniform(0.3, 2.0)
    image = cv2.GaussianBlur(image, (0, 0), sigma)
    image = image + rng.normal(0, rng.uniform(1, 6), image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def jaccard_in_canvas_frame(truth: np.ndarray, found: np.ndarray, canvas_size: tuple[int, int]) -> float:
    """Return the Jaccard index of two quadrilaterals after mapping `truth` onto the canvas rectangle.

    Measured in the canvas's own frame, as the SmartDoc 2015 challenge measures document
    capture, so a small canvas in the photo weighs as much as a large one.
    """
    width, height = canvas_size
    rectangle = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    homography = cv2.getPerspectiveTransform(truth.astype(np.float32), rectangle)
    mapped = cv2.perspectiveTransform(found.reshape(1, 4, 2).astype(np.float32), homography)[0]
    hull = cv2.convexHull(mapped)
    intersection, _ = cv2.intersectConvexConvex(rectangle, hull.reshape(-1, 2))
    union = width * height + cv2.contourArea(hull) - intersection
    return float(intersection / union) if union > 0 else 0.0
