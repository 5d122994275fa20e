"""Finding a painting's four corners in a camera frame.

The whole frame is searched downscaled. When that result is weak, the box
around the most detailed area is searched again at a finer scale, where a faint
side of a small canvas is found more often. Colour edges (Canny on the
strongest RGB channel gradient) feed a probabilistic Hough transform. Every
quadrilateral made of two roughly horizontal and two roughly vertical lines gets
a score with three parts: how much of its sides lies on edges that run along
them, detail inside against plain wall outside, and its overlap with the whole
detailed area. That overlap makes a rectangle of straight edges inside the painting lose
to the canvas. Within one search, a quadrilateral whose sides run on along edges
past its corners, as a floor line or the edge of a wall does, ranks lower. A
picture frame's rim or an easel's ledge shows as a plain band beside a side, so
that side moves in to the next candidate line while the band between is plain. Each side is then refined at full resolution, first over a
wide reach and then a narrow one: the strongest edge across the side is found
at many points and a line is fitted through them with RANSAC, so a hand over
part of an edge, glare or a rounded corner pulls no corner away. Last, a side
still on a frame's rim, where no candidate line lay at the canvas edge, steps in
at full resolution across the plain band to the innermost edge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

log = logging.getLogger(__name__)

MAX_SEGMENTS = 400  # maximum edge segments merged into lines, the longest first
MAX_LINES = 150  # maximum lines scored, the longest first
MAX_LINES_PER_ORIENTATION = 15  # best lines of each orientation combined into quadrilaterals
SIDE_MARGIN = 0.08  # part of each side left out of scoring at both ends (rounded corners)
REFINE_POINTS = 48  # points sampled across each side at full resolution
INLIER_PIXELS = 2.0  # distance to the fitted side that counts as on it, full-resolution pixels
TEXTURE_OFFSET = 6.0  # distance from a side at which texture is compared, downscaled pixels
TEXTURE_FLOOR = 20.0  # gradient magnitude below which both sides count as equally plain
COVERAGE_CANDIDATES = 40  # best quadrilaterals compared with the detailed area
COVERAGE_WEIGHT = 1.5  # weight of that comparison in a quadrilateral's score
# A canvas side ends at its corners, while a floor line or a wall's edge runs on past them.
CONTINUATION_WEIGHT = 0.6  # weight, in ranking a search's quadrilaterals, of the edge found past the corners
CONTINUATION_REACH = 0.15  # how far past each corner that edge is looked for, as a fraction of the side
WIDE_REACH = 3.75  # first refinement pass: downscaled pixels searched on both sides of a coarse side
WEAK_SCORE = 1.9  # below this whole-frame score, the box around the detailed area is searched too
WEAK_CONFIDENCE = 0.75  # below this refined confidence, the box is searched too
CONFIDENCE_MARGIN = 0.15  # a confirmed whole-frame result this much more confident than the box result is kept
SCORE_MARGIN = 0.5  # but not when the box result scores this much higher
NARROW_REACH = 5  # second refinement pass: full-resolution pixels searched on both sides
FRAME_DEPTH = 0.16  # how far in a frame's inner edge is searched, as a fraction of the side's distance to the centre
FRAME_EDGE = 12.0  # median colour change across a side (Lab, as in _fit_side) that counts as an edge
# Maximum colour spread (interquartile range per RGB channel, summed) along a frame's band. A frame
# is one colour, but a dark part of a painting next to its edge also passes the ratio tests.
FRAME_SPREAD = 30.0
FRAME_REFIT_REACH = 3  # full-resolution pixels searched on both sides when refitting a side moved off a frame


@dataclass(frozen=True)
class Detection:
    """The canvas found in a frame: corners clockwise from top-left, or None with a reason."""

    corners: np.ndarray | None  # 4x2 float32, frame pixels
    confidence: float  # 0 to 1: the smallest fraction of a side confirmed by edges
    reason: str = ""  # English, why nothing was found

    @property
    def found(self) -> bool:
        return self.corners is not None


@dataclass
class _Lines:
    """Hough lines n . p = rho, with n = (cos theta, sin theta), in downscaled pixels."""

    rho: np.ndarray  # (L,)
    theta: np.ndarray  # (L,)

    @property
    def normal(self) -> np.ndarray:
        return np.stack([np.cos(self.theta), np.sin(self.theta)], axis=1)

    @property
    def direction(self) -> np.ndarray:
        return np.stack([-np.sin(self.theta), np.cos(self.theta)], axis=1)


def detect_canvas(image: np.ndarray, detect_side: int = 480, min_area: float = 0.005) -> Detection:
    """Find the canvas in an RGB frame (HxWx3 uint8); `min_area` is a fraction of the frame.

    The whole frame is searched at `detect_side` pixels on its long side, and the
    best quadrilateral is refined at full resolution. When that result is weak, the
    box around the most detailed area is searched too, at up to full resolution, and
    the better-scoring quadrilateral of the two searches is kept, unless a whole-frame
    result with confirmed sides contains it or is clearly more confident. Sides still on a
    picture frame then step in to the canvas.
    """
    # TODO: on some photo sets of the capture benchmark (BENCHMARKS.md) the worst photo
    # scores 0.82 to 0.85, under the 0.85 target. Where the painting's edge is nearly
    # the wall's colour, a straight line inside the painting is taken for that side.
    height, width = image.shape[:2]
    scale = min(1.0, detect_side / max(height, width))
    small = _shrink(image, (round(width * scale), round(height * scale)))
    found = _search(image, small, scale, (0, 0, width, height), detect_side, min_area)
    detection = _refined(image, found)
    if found is not None and found[2] >= WEAK_SCORE and detection.confidence >= WEAK_CONFIDENCE:
        return detection

    # A small canvas can lose a faint side at the whole frame's scale, so that a
    # straight line inside the painting wins. The box search costs about as much as
    # the first search, so it runs only on the few frames whose result is weak.
    region = _propose_region(small)
    if region is None:
        return detection
    box = tuple(int(round(v / scale)) for v in region)
    boxed = _search(image, small, scale, box, detect_side, min_area)
    if boxed is None or (found is not None and boxed[2] <= found[2]):
        return detection
    boxed_detection = _refined(image, boxed)
    # A box result inside a confirmed whole-frame one and clearly smaller is most likely
    # a rectangle of straight lines in the painting, which the box search scores higher.
    # A whole-frame result whose sides are not confirmed can instead run past the canvas
    # to the floor line, and the box result inside it is then the canvas. A confirmed
    # whole-frame result also stays when the box result is clearly less confident and
    # does not score much higher.
    if (detection.found and boxed_detection.found and detection.confidence >= WEAK_CONFIDENCE
            and (_inner_part(boxed_detection.corners, detection.corners)
                 or (detection.confidence > boxed_detection.confidence + CONFIDENCE_MARGIN
                     and boxed[2] < found[2] + SCORE_MARGIN))):
        return detection
    return boxed_detection


def _inner_part(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Return whether quadrilateral `inner` lies inside `outer` and is clearly smaller."""
    inner_area = cv2.contourArea(inner)
    shared_area, _ = cv2.intersectConvexConvex(inner, outer)
    return shared_area > 0.97 * inner_area and inner_area < 0.85 * cv2.contourArea(outer)


def _refined(image: np.ndarray, found: tuple[np.ndarray, float, float] | None) -> Detection:
    """Refine a search result (quadrilateral in frame pixels, scale searched, score) at full resolution."""
    if found is None:
        return Detection(None, 0.0, "no four straight edges form a canvas")

    # A coarse side can lie a downscaled pixel or two off the canvas edge, which is
    # several full-resolution pixels. The wide pass finds the edge and the narrow one fits it.
    quad, search_scale, _ = found
    corners, inliers = _refine(image, quad, int(np.ceil(WIDE_REACH / search_scale)) + 3)
    if corners is not None:
        corners, inliers = _refine(image, corners, NARROW_REACH)
    if corners is not None:
        # A picture frame's rim is still taken for the canvas edge here when the coarse
        # step-in had no candidate line at the canvas edge. A small reach keeps the
        # refit off the frame's own edges.
        inner = _step_off_frame(image, corners)
        if inner is not None:
            fitted, fitted_inliers = _refine(image, inner, FRAME_REFIT_REACH)
            if fitted is not None:
                corners, inliers = fitted, fitted_inliers
    if corners is None:
        return Detection(None, 0.0, "the canvas edges could not be followed at full resolution")
    return Detection(corners.astype(np.float32), float(min(inliers)))


def _search(image: np.ndarray, small: np.ndarray, small_scale: float, region: tuple[int, int, int, int],
            detect_side: int, min_area: float) -> tuple[np.ndarray, float, float] | None:
    """Search one box of the frame; return the quadrilateral in frame pixels, the scale searched and its score.

    A box much smaller than the frame is cut from the full-resolution frame, so a
    small canvas is searched at a finer scale. A large one is cut from `small`.
    """
    x0, y0, x1, y1 = region
    scale = min(1.0, detect_side / max(x1 - x0, y1 - y0))
    if scale < 1.3 * small_scale:
        scale = small_scale
        box = small[round(y0 * scale):round(y1 * scale), round(x0 * scale):round(x1 * scale)]
    else:
        box = _shrink(image[y0:y1, x0:x1], (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))))
    gradient_x, gradient_y = _colour_gradient(box)
    lines = _hough_lines(gradient_x, gradient_y)
    if lines is None:
        return None
    frame_area = image.shape[0] * image.shape[1]
    area_in_region = min(0.9, min_area * frame_area / ((x1 - x0) * (y1 - y0)))
    found = _best_quadrilateral(lines, gradient_x, gradient_y, image[y0:y1, x0:x1], scale, area_in_region)
    if found is None:
        return None
    quad, score = found
    return quad / scale + [x0, y0], scale, score


def _shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Return `image` averaged down to `size` (width, height).

    Halving first gives nearly the same area average, and OpenCV halves an even-sized
    image about three times faster than it shrinks a 1920x1080 frame by 4 in one step.
    An odd last row or column is left out of a halving.
    """
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        height, width = image.shape[0] // 2, image.shape[1] // 2
        image = cv2.resize(image[:2 * height, :2 * width], (width, height), interpolation=cv2.INTER_AREA)
    if image.shape[:2] == (size[1], size[0]):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _propose_region(small: np.ndarray) -> tuple[int, int, int, int] | None:
    """Return the box (x0, y0, x1, y1) around the thickest detailed area near the middle, or None.

    A painting has more detail than the wall around it. Searching a box around it
    at a higher resolution finds small canvases and skips windows and doors.
    Works at half the size of `small`; the box is in `small`'s pixels.
    """
    height, width = small.shape[:2]
    tiny = cv2.resize(small, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    gradient_x, gradient_y = _colour_gradient(tiny)
    texture = cv2.blur(np.hypot(gradient_x, gradient_y), (7, 7))
    threshold = max(20.0, 3.0 * float(np.median(texture)))
    mask = cv2.morphologyEx((texture > threshold).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))

    # Keep the thick core of each detailed area: an easel's legs, an arm or the floor
    # line are thin, and would otherwise join the painting to the rest of the room.
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    peak = float(distance.max())
    if peak < 2:
        return None
    core = (distance >= 0.5 * peak).astype(np.uint8)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(core)
    if count < 2:
        return None

    # The largest core near the middle wins.
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float32)
    middle = np.array([tiny.shape[1] / 2, tiny.shape[0] / 2])
    spread = np.linalg.norm(centroids[1:] - middle, axis=1) / np.linalg.norm(middle)
    best = int(np.argmax(areas * (1 - 0.5 * spread))) + 1
    grow = 0.5 * peak  # the core lies this far inside the detailed area
    x, y = stats[best, 0] - grow, stats[best, 1] - grow
    w, h = stats[best, 2] + 2 * grow, stats[best, 3] + 2 * grow
    if w * h < 0.004 * tiny.shape[0] * tiny.shape[1]:
        return None
    x, y, w, h = x * 2.0, y * 2.0, w * 2.0, h * 2.0
    margin = 0.25 * max(w, h) + 0.02 * max(width, height)
    return (int(max(0, x - margin)), int(max(0, y - margin)),
            int(min(width, x + w + margin)), int(min(height, y + h + margin)))


def _colour_gradient(small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Per pixel, the gradient of whichever RGB channel changes most, so a canvas
    # that differs from the wall only in hue still has edges.
    # OpenCV on separate channels takes about 60% of the time of NumPy on interleaved ones.
    blurred = cv2.GaussianBlur(small, (0, 0), 1.0)
    gradient_x = cv2.split(cv2.Sobel(blurred, cv2.CV_16S, 1, 0, ksize=3))
    gradient_y = cv2.split(cv2.Sobel(blurred, cv2.CV_16S, 0, 1, ksize=3))
    strength = [cv2.add(cv2.convertScaleAbs(x, alpha=0.5), cv2.convertScaleAbs(y, alpha=0.5))
                for x, y in zip(gradient_x, gradient_y)]
    best_x, best_y, best = gradient_x[0], gradient_y[0], strength[0]
    for channel in (1, 2):
        stronger = cv2.compare(strength[channel], best, cv2.CMP_GT)
        cv2.copyTo(gradient_x[channel], stronger, best_x)
        cv2.copyTo(gradient_y[channel], stronger, best_y)
        best = cv2.max(best, strength[channel])
    return best_x.astype(np.float32), best_y.astype(np.float32)


def _hough_lines(gradient_x: np.ndarray, gradient_y: np.ndarray) -> _Lines | None:
    """Return straight lines through long edge segments, the longest first.

    Segments (probabilistic Hough) rather than whole-line votes, so the dense
    texture of a painting does not outvote a faint but straight canvas side.
    """
    edges = cv2.Canny(gradient_x.astype(np.int16), gradient_y.astype(np.int16), 30, 80, L2gradient=True)
    side = max(edges.shape)
    segments = cv2.HoughLinesP(edges, 1, np.pi / 180, 12, minLineLength=int(0.025 * side), maxLineGap=4)
    if segments is None or len(segments) < 4:
        return None
    segments = segments.reshape(-1, 4).astype(np.float32)
    x1, y1, x2, y2 = segments.T
    longest = np.argsort(-np.hypot(x2 - x1, y2 - y1))[:MAX_SEGMENTS]
    x1, y1, x2, y2 = segments[longest].T
    theta = np.arctan2(x1 - x2, y2 - y1)  # normal angle of each segment
    rho = x1 * np.cos(theta) + y1 * np.sin(theta)
    length = np.hypot(x2 - x1, y2 - y1)

    # Merge segments of one line; a line's weight is the length of its segments.
    flip = rho < 0
    rho, theta = np.where(flip, -rho, rho), np.where(flip, theta - np.pi, theta)
    theta = np.where(theta < -np.pi / 2, theta + 2 * np.pi, theta)
    gap = np.abs(theta[:, None] - theta[None, :]) % (2 * np.pi)
    gap = np.minimum(gap, 2 * np.pi - gap)
    same = (np.abs(rho[:, None] - rho[None, :]) < 3) & (gap < np.radians(2.5))
    free = np.ones(len(rho), bool)
    kept, weight = [], []
    for index in range(len(rho)):  # segments come longest first, so the longest one left starts a line
        if not free[index]:
            continue
        members = same[index] & free
        free &= ~members
        kept.append(index)
        weight.append(float(length[members].sum()))
    ranking = np.argsort(-np.array(weight))[:MAX_LINES]
    kept = np.array(kept)[ranking]
    return _Lines(rho[kept].astype(np.float32), theta[kept].astype(np.float32))


def _split(lines: _Lines, strength: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices of the strongest roughly horizontal and roughly vertical lines."""
    direction = lines.direction
    horizontal = np.abs(direction[:, 0]) >= np.abs(direction[:, 1])
    order = np.argsort(-strength)
    return (order[horizontal[order]][:MAX_LINES_PER_ORIENTATION],
            order[~horizontal[order]][:MAX_LINES_PER_ORIENTATION])


@dataclass
class _Profiles:
    """Cumulative counts along each line, indexed by position k: point rho n + (start + k) d."""

    start: np.ndarray  # (L,) where each line enters the image, in pixels along d

    edge: np.ndarray  # (L, K+1) points on an edge that runs along the line
    texture_plus: np.ndarray  # (L, K+1) texture a few pixels off the line, on the +n side
    texture_minus: np.ndarray  # (L, K+1) the same on the -n side
    strength: np.ndarray  # (L,) edge length with detail on one side only, for ranking lines

    def take(self, index: np.ndarray) -> "_Profiles":
        return _Profiles(self.start[index], self.edge[index], self.texture_plus[index],
                         self.texture_minus[index], self.strength[index])


def _profiles(lines: _Lines, gradient_x: np.ndarray, gradient_y: np.ndarray, texture: np.ndarray,
              reach: int) -> _Profiles:
    height, width = gradient_x.shape
    magnitude = np.hypot(gradient_x, gradient_y)
    threshold = max(16.0, float(np.percentile(magnitude[::3, ::3], 90)) * 0.3)
    normal, direction = lines.normal, lines.direction
    start = _entry(lines, width, height)
    steps = np.arange(0, reach, dtype=np.float32)[None, :] + start[:, None]  # (L, K)

    def sample(offset: float) -> tuple[np.ndarray, np.ndarray]:
        # Returns flat pixel indices, clipped into the image, and whether each point lies inside it.
        base = lines.rho + offset
        x = np.round(base[:, None] * normal[:, None, 0] + steps * direction[:, None, 0]).astype(np.int32)
        y = np.round(base[:, None] * normal[:, None, 1] + steps * direction[:, None, 1]).astype(np.int32)
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        return np.clip(y, 0, height - 1) * width + np.clip(x, 0, width - 1), inside

    flat_x, flat_y, flat_magnitude = gradient_x.ravel(), gradient_y.ravel(), magnitude.ravel()
    on_edge = np.zeros(steps.shape, bool)
    for offset in (-0.5, 0.5):
        pixels, inside = sample(offset)
        across = np.abs(flat_x.take(pixels) * normal[:, None, 0] + flat_y.take(pixels) * normal[:, None, 1])
        aligned = across > 0.85 * flat_magnitude.take(pixels)
        on_edge |= inside & aligned & (across > threshold)

    textures = []
    for offset in (TEXTURE_OFFSET, -TEXTURE_OFFSET):
        pixels, inside = sample(offset)
        textures.append(np.where(inside, texture.ravel().take(pixels), 0.0))

    def cumulative(values: np.ndarray) -> np.ndarray:
        return np.concatenate([np.zeros((len(values), 1)), np.cumsum(values, axis=1)], axis=1)

    one_sided = np.abs(textures[0] - textures[1]) / (textures[0] + textures[1] + TEXTURE_FLOOR)
    strength = (on_edge * one_sided).sum(1)
    return _Profiles(start, cumulative(on_edge), cumulative(textures[0]), cumulative(textures[1]), strength)


def _entry(lines: _Lines, width: int, height: int) -> np.ndarray:
    """Return, per line, the position along its direction where it enters the image."""
    foot = lines.rho[:, None] * lines.normal  # (L, 2)
    direction = lines.direction
    lower = np.full(len(lines.rho), -np.inf)
    for axis, size in ((0, width), (1, height)):
        step = np.where(np.abs(direction[:, axis]) < 1e-6, 1e-6, direction[:, axis])
        ends = np.stack([(0 - foot[:, axis]) / step, (size - foot[:, axis]) / step], axis=1)
        lower = np.maximum(lower, ends.min(1))
    return np.floor(np.maximum(lower, -2.0 * (width + height))).astype(np.float32)


def _intersections(first: _Lines, second: _Lines) -> np.ndarray:
    """Return (A, B, 2) intersection points of every line of `first` with every line of `second`."""
    n1, n2 = first.normal, second.normal
    determinant = n1[:, None, 0] * n2[None, :, 1] - n1[:, None, 1] * n2[None, :, 0]
    determinant = np.where(np.abs(determinant) < 1e-6, 1e-6, determinant)
    x = (first.rho[:, None] * n2[None, :, 1] - second.rho[None, :] * n1[:, None, 1]) / determinant
    y = (n1[:, None, 0] * second.rho[None, :] - n2[None, :, 0] * first.rho[:, None]) / determinant
    return np.stack([x, y], axis=2)


def _best_quadrilateral(lines: _Lines, gradient_x: np.ndarray, gradient_y: np.ndarray,
                        image: np.ndarray, scale: float, min_area: float) -> tuple[np.ndarray, float] | None:
    """Return the best-scoring canvas quadrilateral (4x2, downscaled pixels) and its score, or None.

    `image` is the full-resolution frame or box searched, `scale` the downscaling.
    The score is that of the quadrilateral before its sides step in.
    """
    height, width = gradient_x.shape
    reach = int(np.hypot(width, height)) + 2
    texture = cv2.blur(np.hypot(gradient_x, gradient_y), (5, 5))
    profiles = _profiles(lines, gradient_x, gradient_y, texture, reach)
    horizontal, vertical = _split(lines, profiles.strength)
    if len(horizontal) < 2 or len(vertical) < 2:
        return None
    quads, supports, contrasts, sides, area, continuations = _candidates(
        _Lines(lines.rho[horizontal], lines.theta[horizontal]), profiles.take(horizontal),
        _Lines(lines.rho[vertical], lines.theta[vertical]), profiles.take(vertical), reach,
        (width, height), min_area)
    if len(quads) == 0:
        return None

    # Sides on edges, detail inside and plain wall outside; near the middle and large is likelier.
    area = area / (width * height)
    centre = np.linalg.norm(quads.mean(1) - [width / 2, height / 2], axis=1) / np.hypot(width, height)
    scores = (0.5 * supports.mean(1) + 0.5 * supports.min(1) + 0.6 * contrasts.mean(1)
              + 0.15 * np.sqrt(area) - 0.3 * centre)
    # The continuation only ranks this search's quadrilaterals. The score returned leaves it
    # out, so the test for a weak result and the comparison with the box search are unchanged.
    continuation = CONTINUATION_WEIGHT * continuations.mean(1)
    scores = scores + COVERAGE_WEIGHT * _texture_overlap(quads, scores - continuation, texture)
    best = int(np.argmax(scores - continuation))
    if supports[best].min() < 0.3:
        return None
    return _step_inside(quads, supports, sides, best, image, scale), float(scores[best])


def _texture_overlap(quads: np.ndarray, scores: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Return, for the best-scoring quadrilaterals, their Jaccard index with the detailed area.

    A quadrilateral of straight edges inside the painting leaves detail outside.
    One around a picture frame or an easel takes in plain wood. Both overlap the
    detailed area less than the canvas does.
    Quadrilaterals outside the best COVERAGE_CANDIDATES score 0.
    """
    step = 2  # the detailed area is compared at half the searched resolution
    texture = texture[::step, ::step]
    detailed = texture > max(TEXTURE_FLOOR, 3.0 * float(np.percentile(texture, 10)))
    detailed = cv2.morphologyEx(detailed.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    detailed_area = float(detailed.sum())
    overlap = np.zeros(len(quads))
    if detailed_area == 0:
        return overlap
    mask = np.zeros_like(detailed)
    for index in np.argsort(-scores)[:COVERAGE_CANDIDATES]:
        mask[:] = 0
        cv2.fillConvexPoly(mask, np.round(quads[index] / step).astype(np.int32), 1)
        inside = float(np.count_nonzero(mask & detailed))
        overlap[index] = inside / (float(mask.sum()) + detailed_area - inside)
    return overlap


def _candidates(horizontal: _Lines, profile_h: _Profiles, vertical: _Lines, profile_v: _Profiles,
                reach: int, size: tuple[int, int], min_area: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return every quadrilateral of two horizontal and two vertical lines (M, 4, 2).

    With each: the fraction of each side on an edge (M, 4), each side's texture
    contrast (M, 4), from 1 (detail inside, plain outside) to -1 (the reverse),
    the index of each side's line (M, 4), top, right, bottom, left, within its orientation,
    the area (M,) and the fraction of edge past each side's ends (M, 4, see `_continuation`).
    """
    corners = _intersections(horizontal, vertical)  # (H, V, 2)
    along_h = np.einsum("hvk,hk->hv", corners, horizontal.direction) - profile_h.start[:, None]
    along_v = np.einsum("hvk,vk->hv", corners, vertical.direction) - profile_v.start[None, :]

    # Order each pair: top before bottom by their height mid-frame, left before right.
    middle_y = corners[:, :, 1].mean(1)
    middle_x = corners[:, :, 0].mean(0)
    pairs_h = [(a, b) if middle_y[a] < middle_y[b] else (b, a)
               for a in range(len(middle_y)) for b in range(a + 1, len(middle_y))]
    pairs_v = [(a, b) if middle_x[a] < middle_x[b] else (b, a)
               for a in range(len(middle_x)) for b in range(a + 1, len(middle_x))]
    top, bottom = np.array(pairs_h).T
    left, right = np.array(pairs_v).T
    top, bottom = np.repeat(top, len(left)), np.repeat(bottom, len(left))
    left, right = np.tile(left, len(pairs_h)), np.tile(right, len(pairs_h))

    quads = np.stack([corners[top, left], corners[top, right], corners[bottom, right],
                      corners[bottom, left]], axis=1)
    valid, areas = _plausible(quads, *size, min_area)
    quads, areas = quads[valid], areas[valid]
    top, bottom, left, right = top[valid], bottom[valid], left[valid], right[valid]
    centre = quads.mean(1)
    sides = [(profile_h, horizontal, top, along_h[top, left], along_h[top, right]),
             (profile_v, vertical, right, along_v[top, right], along_v[bottom, right]),
             (profile_h, horizontal, bottom, along_h[bottom, left], along_h[bottom, right]),
             (profile_v, vertical, left, along_v[top, left], along_v[bottom, left])]
    supports, contrasts, continuations = [], [], []
    for side, (profile, lines, line, start, end) in enumerate(sides):
        supports.append(_side_support(profile.edge, line, start, end))
        continuations.append(_continuation(profile.edge, line, start, end))
        plus = _side_support(profile.texture_plus, line, start, end)
        minus = _side_support(profile.texture_minus, line, start, end)
        middle = (quads[:, side] + quads[:, (side + 1) % 4]) / 2
        outward_plus = np.einsum("mk,mk->m", middle - centre, lines.normal[line]) > 0
        outside, inside = np.where(outward_plus, plus, minus), np.where(outward_plus, minus, plus)
        contrasts.append((inside - outside) / (inside + outside + TEXTURE_FLOOR))
    sides = np.stack([top, right, bottom, left], axis=1)
    return (quads, np.stack(supports, axis=1), np.stack(contrasts, axis=1), sides, areas,
            np.stack(continuations, axis=1))


def _continuation(profile: np.ndarray, line: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Return, per side, the larger fraction of edge on its line just past either end."""
    low, high = np.minimum(start, end), np.maximum(start, end)
    reach = (high - low) * CONTINUATION_REACH
    before = _profile_between(profile, line, low - reach, low)
    after = _profile_between(profile, line, high, high + reach)
    return np.maximum(before, after) / np.maximum(reach, 1)


def _side_support(profile: np.ndarray, line: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Return the fraction of each side's middle part that lies on an edge along the side."""
    low, high = np.minimum(start, end), np.maximum(start, end)
    margin = (high - low) * SIDE_MARGIN
    last = profile.shape[1] - 1
    length = np.maximum(np.clip(np.round(high - margin), 0, last) - np.clip(np.round(low + margin), 0, last), 1)
    return _profile_between(profile, line, low + margin, high - margin) / length


def _profile_between(profile: np.ndarray, line: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Return the sum of cumulative `profile` along each line from position `low` to `high`, clipped to it."""
    last = profile.shape[1] - 1
    low = np.clip(np.round(low), 0, last).astype(np.int64)
    high = np.clip(np.round(high), 0, last).astype(np.int64)
    return profile[line, high] - profile[line, low]


NEXT_CORNER = [1, 2, 3, 0]  # index of each corner's clockwise neighbour


def _areas(quads: np.ndarray) -> np.ndarray:
    x, y = quads[..., 0], quads[..., 1]
    return 0.5 * np.abs(np.sum(x * y[:, NEXT_CORNER] - x[:, NEXT_CORNER] * y, axis=1))


def _plausible(quads: np.ndarray, width: int, height: int, min_area: float) -> tuple[np.ndarray, np.ndarray]:
    """Return a mask of quadrilaterals that are convex, big enough and inside the frame, and their areas."""
    edges = quads[:, NEXT_CORNER] - quads
    following = edges[:, NEXT_CORNER]
    cross = edges[..., 0] * following[..., 1] - edges[..., 1] * following[..., 0]
    convex = (cross > 0).all(1)
    margin = 0.02 * max(width, height)
    inside = ((quads[..., 0] > -margin) & (quads[..., 0] < width + margin)
              & (quads[..., 1] > -margin) & (quads[..., 1] < height + margin)).all(1)
    lengths = np.hypot(edges[..., 0], edges[..., 1])
    shortest, longest = lengths.min(1), lengths.max(1)
    shaped = (shortest > 0.2 * longest) & (shortest > 0.03 * max(width, height))
    areas = _areas(quads)
    big = areas > min_area * width * height
    return convex & inside & shaped & big, areas


def _step_inside(quads: np.ndarray, supports: np.ndarray, sides: np.ndarray, best: int, image: np.ndarray,
                 scale: float) -> np.ndarray:
    """Move sides in from a picture frame's rim or an easel's ledge to the canvas edge.

    A side moves to a candidate line further in, with the other three sides kept,
    when the band between the two lines is plain along its length, as moulding
    and wood are, while the painting just inside varies. A frame's sides move one
    at a time, its outer rim first, so the loop runs a few rounds.
    """
    areas = _areas(quads)
    for _ in range(6):
        moved = False
        for side in range(4):
            others = [k for k in range(4) if k != side]
            same_others = np.all(sides[:, others] == sides[best, others], axis=1)
            ratio = areas / areas[best]
            options = np.flatnonzero(same_others & (ratio < 0.995) & (ratio > 0.8) & (supports[:, side] > 0.5))
            for index in options[np.argsort(-ratio[options])][:3]:  # the nearest lines first
                if _plain_band(image, scale, quads[best], quads[index], side):
                    best = int(index)
                    moved = True
                    break
        if not moved:
            break
    return quads[best]


def _step_off_frame(image: np.ndarray, corners: np.ndarray) -> np.ndarray | None:
    """Move refined sides in from a picture frame to the canvas edge; return the new corners, or None.

    A side moves to the innermost edge it meets within FRAME_DEPTH while the band
    between the side and each edge passed stays plain (see _plain_band).
    Returns None when no side moves.
    """
    centre = corners.mean(0).astype(np.float64)
    lines, moved = [], False
    for side in range(4):
        start, end = corners[side].astype(np.float64), corners[(side + 1) % 4].astype(np.float64)
        direction = (end - start) / max(np.linalg.norm(end - start), 1e-6)
        inward = np.array([-direction[1], direction[0]])
        if np.dot(centre - start, inward) < 0:
            inward = -inward
        depth = int(FRAME_DEPTH * float(np.dot(centre - start, inward))) + 3
        shift = _frame_width(image, corners.astype(np.float64), side, inward, depth)
        moved = moved or shift > 0
        lines.append((start + shift * inward, direction))
    if not moved:
        return None

    inner = [_intersect(lines[(side - 1) % 4], lines[side]) for side in range(4)]
    if any(point is None for point in inner):
        return None
    return np.array(inner, np.float32)


def _frame_width(image: np.ndarray, corners: np.ndarray, side: int, inward: np.ndarray, depth: int) -> float:
    """Return how far, in full-resolution pixels, one side moves in to the canvas edge (0 to stay)."""
    start, end = corners[side], corners[(side + 1) % 4]
    along = np.linspace(0.15, 0.85, REFINE_POINTS)[:, None]  # leaves out the corners and most of a hand's arm
    centres = start + (end - start) * along
    offsets = np.arange(0, depth + 1, dtype=np.float64)
    samples = (centres[:, None, :] + offsets[None, :, None] * inward).astype(np.float32)  # (P, O, 2)
    profiles = cv2.remap(image, samples[..., 0], samples[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    profiles = cv2.cvtColor(profiles, cv2.COLOR_RGB2LAB).astype(np.float32)
    profiles[..., 1:] *= 1.5
    # The median over the side of the colour change across it, at offsets 1 to depth - 1.
    change = np.median(np.linalg.norm(profiles[:, 2:] - profiles[:, :-2], axis=2), axis=0)

    shift = 0.0
    for index in range(3, len(change) - 1):  # the side's own edge spreads over the first few pixels
        peak = change[index] >= change[index - 1] and change[index] >= change[index + 1]
        if not peak or change[index] <= FRAME_EDGE:
            continue
        offset = index + 1
        inner = corners.copy()
        inner[side] += offset * inward
        inner[(side + 1) % 4] += offset * inward
        if not _plain_band(image, 1.0, corners, inner, side, change_ratio=1.0, max_spread=FRAME_SPREAD):
            break
        shift = float(offset)
    return shift


def _plain_band(image: np.ndarray, scale: float, outer: np.ndarray, inner: np.ndarray, side: int,
                change_ratio: float = 0.4, max_spread: float = np.inf) -> bool:
    """Return whether the band between one side of `outer` and of `inner` looks like a frame or a ledge.

    Colours are sampled at full resolution along lines parallel to the side,
    across the band and inside the painting. The band must spread less in colour
    than the painting, by 0.4 times, and change less between neighbouring samples,
    by `change_ratio` times. Image noise alone changes neighbouring samples, so a
    caller that samples a thin band at full resolution, where a dark or blurred
    painting changes little more than noise, passes 1.0. The band's spread must
    also be at most `max_spread`.
    """
    ends = [side, (side + 1) % 4]
    outer_side, inner_side = outer[ends] / scale, inner[ends] / scale
    width = float(np.max(np.linalg.norm(outer_side - inner_side, axis=1)))
    if width < 3:
        return False
    inward = (inner_side - outer_side) / width
    depth = max(width, 10.0)  # full-resolution pixels: the painting is sampled at least this far in
    segments = [inner_side + f * (outer_side - inner_side) for f in (0.3, 0.5, 0.7)]
    segments += [inner_side + f * depth * inward for f in (0.4, 0.8)]
    change, spread = _variation_along(image, np.array(segments))
    return bool(np.median(spread[:3]) <= max_spread
                and np.median(change[:3]) < change_ratio * np.median(change[3:])
                and np.median(spread[:3]) < 0.4 * np.median(spread[3:]))


def _variation_along(image: np.ndarray, segments: np.ndarray, points: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Return, per segment (S, 2, 2), the median colour change between neighbouring points and the colour spread.

    The spread is the interquartile range of each channel, summed. Both skip the
    outer tenth of each end of the segment.
    """
    steps = np.linspace(0.1, 0.9, points)[None, :, None]
    lines = (segments[:, :1] + (segments[:, 1:] - segments[:, :1]) * steps).astype(np.float32)  # (S, P, 2)
    colours = cv2.remap(image, lines[..., 0], lines[..., 1], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT).astype(np.float32)  # (S, P, 3)
    change = np.median(np.abs(np.diff(colours, axis=1)).sum(2), axis=1)
    ordered = np.sort(colours, axis=1)
    spread = (ordered[:, 3 * points // 4] - ordered[:, points // 4]).sum(1)
    return change, spread


def _refine(image: np.ndarray, corners: np.ndarray, reach: int) -> tuple[np.ndarray | None, list[float]]:
    """Fit each side to the strongest edge within `reach` pixels at full resolution.

    Returns the corners and the inlier fraction of each side.
    """
    fitted, inliers = [], []
    for side in range(4):
        start, end = corners[side], corners[(side + 1) % 4]
        line, fraction = _fit_side(image, start, end, reach)
        if line is None:
            return None, []
        fitted.append(line)
        inliers.append(fraction)

    refined = []
    for side in range(4):
        point = _intersect(fitted[(side - 1) % 4], fitted[side])
        if point is None:
            return None, []
        refined.append(point)
    refined = np.array(refined, np.float32)
    if np.max(np.linalg.norm(refined - corners, axis=1)) > 4 * reach:
        refined = corners.astype(np.float32)  # refinement diverged; keep the coarse corners
    return refined, inliers


def _fit_side(image: np.ndarray, start: np.ndarray, end: np.ndarray, reach: int):
    """Return a line (point, unit direction) through the edge along one side, and its inlier fraction."""
    direction = (end - start) / max(np.linalg.norm(end - start), 1e-6)
    normal = np.array([-direction[1], direction[0]])
    along = np.linspace(SIDE_MARGIN, 1 - SIDE_MARGIN, REFINE_POINTS)[:, None]
    centres = start + (end - start) * along  # (P, 2)
    offsets = np.arange(-reach, reach + 1, dtype=np.float32)
    samples = centres[:, None, :] + offsets[None, :, None] * normal  # (P, O, 2)
    map_x = samples[..., 0].astype(np.float32)
    map_y = samples[..., 1].astype(np.float32)
    profiles = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    profiles = cv2.cvtColor(profiles, cv2.COLOR_RGB2LAB).astype(np.float32)  # (P, O, 3)
    profiles[..., 1:] *= 1.5

    # Edge strength across the side: the colour change between neighbours, peaked near the coarse line.
    change = np.linalg.norm(profiles[:, 2:] - profiles[:, :-2], axis=2)  # (P, O-2)
    change = cv2.GaussianBlur(change, (1, 3), 0) if change.shape[1] >= 3 else change
    weight = np.exp(-0.5 * (offsets[1:-1] / (reach * 0.7)) ** 2)
    peak = np.argmax(change * weight, axis=1)
    strong = change[np.arange(len(peak)), peak] > 12
    position = offsets[1:-1][peak] + _subpixel(change, peak)
    points = centres + position[:, None] * normal
    points = points[strong]
    if len(points) < 6:
        return None, 0.0
    return _ransac_line(points, REFINE_POINTS)


def _subpixel(values: np.ndarray, peak: np.ndarray) -> np.ndarray:
    rows = np.arange(len(peak))
    left = values[rows, np.clip(peak - 1, 0, values.shape[1] - 1)]
    middle = values[rows, peak]
    right = values[rows, np.clip(peak + 1, 0, values.shape[1] - 1)]
    denominator = left - 2 * middle + right
    shift = np.where(np.abs(denominator) > 1e-6, 0.5 * (left - right) / np.where(denominator == 0, 1, denominator), 0)
    return np.clip(shift, -0.5, 0.5)


def _ransac_line(points: np.ndarray, total: int):
    """Fit a line to points with outliers; return ((point, direction), inliers / total).

    Every pair among a dozen evenly spread points is tried as a line (RANSAC
    without randomness, so a frame gives the same corners every time).
    """
    picks = np.unique(np.linspace(0, len(points) - 1, 12).round().astype(int))
    first, second = np.triu_indices(len(picks), 1)
    first, second = picks[first], picks[second]
    direction = points[second] - points[first]  # (R, 2)
    length = np.maximum(np.hypot(direction[:, 0], direction[:, 1]), 1e-6)
    normal_x, normal_y = -direction[:, 1] / length, direction[:, 0] / length
    distance = np.abs((points[None, :, 0] - points[first, None, 0]) * normal_x[:, None]
                      + (points[None, :, 1] - points[first, None, 1]) * normal_y[:, None])
    inlying = distance < INLIER_PIXELS  # (R, P)
    mask = inlying[int(np.argmax(inlying.sum(1)))]
    if mask.sum() < 4:
        return None, 0.0
    vx, vy, x0, y0 = cv2.fitLine(points[mask].astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
    return (np.array([x0, y0]), np.array([vx, vy])), float(mask.sum()) / total


def _intersect(first, second) -> np.ndarray | None:
    (p, r), (q, s) = first, second
    cross = r[0] * s[1] - r[1] * s[0]
    if abs(cross) < 1e-6:
        return None
    t = ((q[0] - p[0]) * s[1] - (q[1] - p[1]) * s[0]) / cross
    return p + t * r
