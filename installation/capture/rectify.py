"""Turning a camera frame into a flat, colour-balanced picture of the canvas."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from installation.texts import TwowayError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LensCalibration:
    """A camera's intrinsic matrix and distortion coefficients, as OpenCV's calibrateCamera returns."""

    camera_matrix: np.ndarray  # 3x3
    dist_coeffs: np.ndarray  # 1xN

    @classmethod
    def load(cls, path: Path | str) -> "LensCalibration":
        """Read an .npz file with `camera_matrix` and `dist_coeffs` arrays."""
        try:
            with np.load(path) as data:
                matrix = np.asarray(data["camera_matrix"], np.float64)
                coefficients = np.asarray(data["dist_coeffs"], np.float64).reshape(1, -1)
        except (OSError, KeyError, ValueError) as error:
            raise TwowayError("capture.calibration_invalid", path=path, reason=error)
        if matrix.shape != (3, 3):
            raise TwowayError("capture.calibration_invalid", path=path, reason="camera_matrix is not 3x3")
        return cls(matrix, coefficients)

    def undistort_points(self, points: np.ndarray) -> np.ndarray:
        """Map frame pixels to where they lie once the lens distortion is removed."""
        mapped = cv2.undistortPoints(points.reshape(-1, 1, 2).astype(np.float64), self.camera_matrix,
                                     self.dist_coeffs, P=self.camera_matrix)
        return mapped.reshape(-1, 2).astype(np.float32)

    def undistort(self, frame: np.ndarray) -> np.ndarray:
        return cv2.undistort(frame, self.camera_matrix, self.dist_coeffs)


def order_corners(corners: np.ndarray) -> np.ndarray:
    """Return four points clockwise from the top-left one (in image coordinates, y down)."""
    points = np.asarray(corners, np.float32).reshape(4, 2)
    centre = points.mean(0)
    angles = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    points = points[np.argsort(angles)]  # clockwise on screen, starting anywhere
    start = int(np.argmin(points.sum(1)))  # the top-left has the smallest x + y
    return np.roll(points, -start, axis=0)


def canvas_size(corners: np.ndarray, width_cm: float = 0.0, height_cm: float = 0.0) -> tuple[int, int]:
    """Return the rectified size in pixels: the photo's own resolution, in the canvas's proportions.

    Proportions come from the canvas size in centimetres when both are given, else
    from the mean lengths of opposite sides (which a steep tilt shortens a little).
    """
    top, right, bottom, left = (np.linalg.norm(corners[(i + 1) % 4] - corners[i]) for i in range(4))
    width = (top + bottom) / 2
    height = (left + right) / 2
    if width_cm > 0 and height_cm > 0:
        # Keep the pixel count of the measured quadrilateral, with the true aspect ratio.
        pixels = width * height
        aspect = width_cm / height_cm
        width, height = np.sqrt(pixels * aspect), np.sqrt(pixels / aspect)
    return max(8, int(round(width))), max(8, int(round(height)))


def rectify(frame: np.ndarray, corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp the quadrilateral `corners` of an RGB frame to a `size` (width, height) rectangle."""
    width, height = size
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    homography = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), target)
    return cv2.warpPerspective(frame, homography, (width, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)


def white_balance(image: np.ndarray, grey: np.ndarray | None = None) -> np.ndarray:
    """Balance an RGB image so that `grey` pixels (a grey card) come out neutral.

    Without a grey reference the brightest-but-not-clipped pixels are taken as
    white (a robust white patch: the 97th to 99.5th percentile of brightness), and
    falling back to the grey-world mean when they are strongly coloured.
    """
    pixels = image.reshape(-1, 3).astype(np.float32)
    if grey is not None and grey.size:
        reference = grey.reshape(-1, 3).astype(np.float32).mean(0)
    else:
        reference = _bright_reference(pixels)
    if np.any(reference < 1):
        return image
    gains = reference.mean() / reference
    gains = np.clip(gains, 0.5, 2.0)  # a larger correction means a bad reference, not a cast
    balanced = pixels * gains
    return np.clip(balanced, 0, 255).astype(np.uint8).reshape(image.shape)


def _bright_reference(pixels: np.ndarray) -> np.ndarray:
    brightness = pixels.sum(1)
    low, high = np.percentile(brightness, [97, 99.5])
    bright = pixels[(brightness >= low) & (brightness <= high) & (pixels.max(1) < 254)]
    if len(bright) < 16:
        return pixels.mean(0)
    reference = bright.mean(0)
    # A saturated highlight colour (a yellow sky, say) is no white; use the grey world.
    if reference.max() > 1.6 * max(reference.min(), 1):
        return pixels.mean(0)
    return reference


def grey_patch(frame: np.ndarray, area: tuple[float, ...]) -> np.ndarray | None:
    """Return the pixels of the grey reference area (x, y, width, height in frame pixels), or None."""
    if len(area) != 4:
        return None
    x, y, width, height = (int(round(v)) for v in area)
    patch = frame[max(0, y):max(0, y + height), max(0, x):max(0, x + width)]
    return patch if patch.size else None
