"""Camera capture: reading frames, finding the canvas, rectifying it and storing it.

- `sources`: cameras, video files and watch folders as frame sources
- `camera`: `CameraFeed`, the reading thread that recovers by itself
- `canvas`: `detect_canvas`, the four corners of a painting in a frame
- `rectify`: warping to the canvas's proportions, white balance, lens distortion
- `session`: `CaptureSession`, when to take the picture, duplicates, live painting states
- `synthetic`: photos of paintings on generated walls, for tests and the benchmark
"""

from installation.capture.camera import CameraFeed
from installation.capture.canvas import Detection, detect_canvas
from installation.capture.session import CaptureResult, CaptureSession

__all__ = ["CameraFeed", "CaptureResult", "CaptureSession", "Detection", "detect_canvas"]
