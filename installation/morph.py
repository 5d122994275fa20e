"""Optical-flow morphs between two images, for networks without a latent path.

`FlowMorph` computes dense optical flow from A to B and from B to A once, at a
reduced working size, then renders any in-between frame by warping both images
toward the in-between position and blending them. The display's morph jobs and
the video renderer both use it.
"""

from __future__ import annotations

import itertools
import logging

import cv2
import numpy as np

log = logging.getLogger(__name__)


class FlowMorph:
    """A morph from `image_a` to `image_b` (HxWx3 uint8 each, sizes may differ).

    Frames have the size of `image_a` unless `size` (width, height in pixels) is
    given; `image_b` is resized to it, never cropped. `work_side` is the long side,
    in pixels, at which the flow is computed: larger is slower and finer.
    """

    def __init__(self, image_a: np.ndarray, image_b: np.ndarray, work_side: int = 512,
                 size: tuple[int, int] | None = None):
        _check_image("image_a", image_a)
        _check_image("image_b", image_b)
        if work_side < 16:
            raise ValueError(f"work_side={work_side} is too small; use at least 16 pixels")
        width, height = size or (image_a.shape[1], image_a.shape[0])
        self.size = (int(width), int(height))
        self.image_a = _resized(image_a, self.size).astype(np.float32)
        self.image_b = _resized(image_b, self.size).astype(np.float32)

        # Flow at the working size, then scaled up to the frame size: the flow is
        # smooth, so computing it on fewer pixels loses little and saves most of the time.
        scale = min(1.0, work_side / max(self.size))
        work_size = (max(8, round(width * scale)), max(8, round(height * scale)))
        gray_a = cv2.cvtColor(_resized(image_a, work_size), cv2.COLOR_RGB2GRAY)
        gray_b = cv2.cvtColor(_resized(image_b, work_size), cv2.COLOR_RGB2GRAY)
        self.flow_ab = _upscaled_flow(_dense_flow(gray_a, gray_b), self.size)  # H x W x 2, pixels
        self.flow_ba = _upscaled_flow(_dense_flow(gray_b, gray_a), self.size)

        grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32),
                                     np.arange(height, dtype=np.float32))
        self._grid = np.stack([grid_x, grid_y], axis=2)  # H x W x 2, pixel coordinates

    def frame(self, t: float) -> np.ndarray:
        """Render the frame at `t` (0 gives A, 1 gives B, linear in between); HxWx3 uint8."""
        t = float(np.clip(t, 0.0, 1.0))
        if t == 0.0:
            return np.clip(self.image_a, 0, 255).astype(np.uint8)
        if t == 1.0:
            return np.clip(self.image_b, 0, 255).astype(np.uint8)

        # A pixel of A at x moves to x + t * flow_ab(x), so the in-between frame
        # samples A a fraction t back along the flow and B a fraction 1 - t back
        # along the reverse flow. This backward warp assumes the flow is smooth.
        map_a = self._grid - t * self.flow_ab
        map_b = self._grid - (1.0 - t) * self.flow_ba
        warped_a = cv2.remap(self.image_a, map_a, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped_b = cv2.remap(self.image_b, map_b, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        blended = cv2.addWeighted(warped_a, 1.0 - t, warped_b, t, 0.0)
        return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def _check_image(name: str, image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", None)
        raise ValueError(f"{name} must be an HxWx3 uint8 array, got shape {shape} and dtype {dtype}")


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == size:
        return image
    shrinking = size[0] < image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _dense_flow(gray_from: np.ndarray, gray_to: np.ndarray) -> np.ndarray:
    """Dense optical flow (DIS, OpenCV), H x W x 2 float32 in pixels of the working size."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(gray_from, gray_to, None)


def _upscaled_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = flow.shape[:2]
    if (width, height) == size:
        return flow
    scaled = cv2.resize(flow, size, interpolation=cv2.INTER_LINEAR)
    scaled[..., 0] *= size[0] / width
    scaled[..., 1] *= size[1] / height
    return scaled


# --- the worker's "morph" job ------------------------------------------------------------

def morph_job(params: dict, context) -> dict:
    """Render a morph between two nodes into the display's frame ring (worker job "morph").

    params: node_a, node_b (node ids), frames (count, at least 2), screen ([width,
    height] in pixels), background ([r, g, b]), work_side (pixels), ring (a
    `FrameRing.spec()`), token (an int the display uses to tell morphs apart),
    and optionally breathe (true: node_a's idle motion instead, see `render_breath`).
    Returns {"frames": rendered count, "method": "latent", "flow", "breath" or "none"}.
    """
    from installation.frames import FrameRing

    ring = FrameRing.attach(params["ring"])
    try:
        return render_morph(context.archive, params, ring, context.progress, context.cancelled,
                            settings=context.settings, device=context.device)
    finally:
        ring.close()


def render_morph(archive, params: dict, ring, progress, cancelled, settings=None,
                 device: str = "cpu") -> dict:
    """Render a morph's frames into `ring` in coarse-to-fine order; see `morph_job` for params."""
    from installation.frames import letterbox, morph_box

    if params.get("breathe"):
        return render_breath(archive, params, ring, progress, cancelled, settings, device)

    node_a, node_b = archive.node(params["node_a"]), archive.node(params["node_b"])
    image_a = np.asarray(archive.load_image(node_a))
    image_b = np.asarray(archive.load_image(node_b))
    screen = tuple(params["screen"])
    box = morph_box((node_a.width, node_a.height), (node_b.width, node_b.height), screen)
    background = tuple(params["background"])
    count = max(2, int(params["frames"]))

    render = _latent_renderer(archive, node_a, node_b, image_a, settings, device) if settings else None
    method = "latent" if render else "flow"
    if render is None:
        flow = FlowMorph(letterbox(image_a, box, background), letterbox(image_b, box, background),
                         work_side=int(params["work_side"]))
        render = flow.frame
    log.info("morph %d -> %d: %d frames of %dx%d by %s", node_a.id, node_b.id, count, box[0], box[1], method)

    written = _write_frames(ring, int(params["token"]), count, progress, cancelled,
                            lambda index: letterbox(render(index / (count - 1)), box, background))
    return {"frames": written, "method": method}


def render_breath(archive, params: dict, ring, progress, cancelled, settings=None,
                  device: str = "cpu") -> dict:
    """Render the idle motion ("breathing") of node_a's latent into `ring`; see `morph_job` for params.

    Frame i decodes step i of the network's random walk around the node's own
    latent, seeded by the node id, so frame 0 is nearly the still and the display
    can play the frames forward and back. A node without a latent path gets no
    frames (method "none").
    """
    from installation.frames import letterbox, morph_box

    node = archive.node(params["node_a"])
    count = max(2, int(params["frames"]))
    loaded = _latent_network(archive, node, settings, device) if settings else None
    if loaded is None or not hasattr(loaded[0], "breathe"):
        log.info("node %d has no latent to breathe around", node.id)
        return {"frames": 0, "method": "none"}
    network, center = loaded
    latents = list(itertools.islice(network.breathe(center, seed=node.id), count))
    box = morph_box((node.width, node.height), (node.width, node.height), tuple(params["screen"]))
    background = tuple(params["background"])
    log.info("breathing of node %d: %d frames of %dx%d", node.id, count, box[0], box[1])

    written = _write_frames(ring, int(params["token"]), count, progress, cancelled,
                            lambda index: letterbox(network.decode(latents[index]), box, background))
    return {"frames": written, "method": "breath"}


def _write_frames(ring, token: int, count: int, progress, cancelled, frame_at) -> int:
    """Write `frame_at(index)` for every index into `ring` in coarse-to-fine order; return how many were written."""
    written = 0
    for index in coarse_to_fine_order(count):
        if cancelled():
            break
        if not ring.write(token, index, frame_at(index), cancelled):
            break
        written += 1
        progress(written / count, "frame")
    return written


def coarse_to_fine_order(count: int) -> list[int]:
    """Frame indices 0..count-1 ordered so that every prefix is spread over the whole morph.

    The ends come first, then the middle, then the quarter points and so on, so a
    display that has only some of the frames can still blend between near ones.
    """
    order = [0, count - 1]
    seen = set(order)
    spans = [(0, count - 1)]
    while spans:
        next_spans = []
        for low, high in spans:
            if high - low < 2:
                continue
            middle = (low + high) // 2
            if middle not in seen:
                seen.add(middle)
                order.append(middle)
            next_spans += [(low, middle), (middle, high)]
        spans = next_spans
    return order


def _latent_network(archive, node, settings, device: str):
    """Return (network, the node's stored latent) for a machine image with a latent path, else None."""
    provenance = node.provenance
    if node.kind != "machine" or not provenance.get("latent"):
        return None
    try:
        from models.base import Latent
        from models.registry import get_network

        network = get_network(provenance["network"], settings, device)
        if not network.abilities.has_latent:
            return None
        if provenance.get("checkpoint"):
            network.load(archive.folder / provenance["checkpoint"])
        latent = Latent.from_bytes((archive.folder / provenance["latent"]).read_bytes())
        # A latent made before the model was trained further or again no longer fits it.
        network.check_latent(latent)
        return network, latent
    except Exception as error:  # a missing or unfitting checkpoint or latent: the caller falls back
        log.warning("loading the latent or checkpoint of node %d failed: %s", node.id, error)
        return None


def _start_latent(archive, node, image: np.ndarray, network):
    """Return `node`'s stored latent when it comes from `network` and fits its model, else reconstruct `image`."""
    from installation.texts import TwowayError
    from models.base import Latent

    path = node.provenance.get("latent")
    if node.kind == "machine" and path and node.provenance.get("network") == network.name:
        latent = Latent.from_bytes((archive.folder / path).read_bytes())
        try:
            network.check_latent(latent)
            return latent
        except TwowayError as error:
            log.info("latent of node %d does not fit the current model (%s); reconstructing it", node.id, error)
    return network.reconstruct(image)


def _latent_renderer(archive, node_a, node_b, image_a: np.ndarray, settings, device: str):
    """Return `t -> frame` decoding interpolated latents, or None when B has no latent path.

    B must be a machine image whose network has a latent space, with its latent and
    checkpoint stored. A's latent is its own stored one when it comes from the same
    network and fits its model, else the network reconstructs it from A's image.
    """
    loaded = _latent_network(archive, node_b, settings, device)
    if loaded is None:
        return None
    network, end = loaded
    try:
        start = _start_latent(archive, node_a, image_a, network)
    except Exception as error:  # any failure of the network falls back to the flow morph
        log.warning("latent morph %d -> %d unavailable, using optical flow: %s", node_a.id, node_b.id, error)
        return None

    def render(t: float) -> np.ndarray:
        return network.decode(network.interpolate(start, end, t))

    return render
