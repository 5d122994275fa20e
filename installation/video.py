"""Morph videos: H.264 MP4 files of an ancestor turning into its child, or a whole walk.

A video shows a still of the first image, an eased morph to the next, a still
of that one, and so on. A morph into a machine image whose network has a
latent space decodes interpolated latents, as the kiosk does; every other
morph is an optical-flow morph (`installation.morph.FlowMorph`). Frames are streamed to ffmpeg one at a time (imageio-ffmpeg ships the
binary), so memory stays bounded however long the video is. The output is
H.264 High profile, yuv420p, with the index at the front of the file
(`+faststart`), which phones and social networks play.

The file is written under a temporary name and renamed when complete, so an
interrupted render never leaves a truncated video under the requested name.
"""

from __future__ import annotations

import logging
import math
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from installation.archive import TEMP_PREFIX
from installation.config import VideoSettings
from installation.morph import FlowMorph
from installation.texts import TwowayError

log = logging.getLogger(__name__)

BACKGROUND = (0, 0, 0)  # RGB of the bars around a picture whose proportions differ from the video's
FLOW_WORK_SIDE = 512  # pixels; long side at which optical flow is computed

# Called after each frame with (frames written, total frames).
FrameProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class VideoSummary:
    """The file `render_video` wrote, with its length and frame size."""

    path: Path
    frames: int
    seconds: float
    width: int
    height: int


def parse_video_size(text: str) -> tuple[int, int]:
    """Parse "1080x1350" into (width, height) pixels, each rounded down to an even number."""
    match = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*", str(text).lower())
    if not match:
        raise TwowayError("video.bad_size", value=text)
    width, height = int(match.group(1)), int(match.group(2))
    if not (16 <= width <= 7680 and 16 <= height <= 7680):
        raise TwowayError("video.bad_size", value=text)
    return even_size(width, height)


def even_size(width: int, height: int) -> tuple[int, int]:
    """Round down to even numbers: yuv420p halves both sides for its colour planes."""
    return width - width % 2, height - height % 2


def fit_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale an HxWx3 image to fit inside `size` (width, height) and centre it on BACKGROUND.

    Nothing of the picture is cropped: a painting's edges matter.
    """
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    fitted_width = max(1, min(width, round(image.shape[1] * scale)))
    fitted_height = max(1, min(height, round(image.shape[0] * scale)))
    method = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LANCZOS4
    fitted = cv2.resize(image, (fitted_width, fitted_height), interpolation=method)

    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = BACKGROUND
    left = (width - fitted_width) // 2
    top = (height - fitted_height) // 2
    frame[top:top + fitted_height, left:left + fitted_width] = fitted
    return frame


def ease(t: float) -> float:
    """Ease in and out (half a cosine): slow at both ends, so a morph never starts with a jolt."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


def count_frames(settings: VideoSettings) -> tuple[int, int]:
    """Return the frame counts of one hold and of one morph; a morph has at least 2 frames."""
    hold = round(settings.hold_seconds * settings.fps)
    morph = max(2, round(settings.morph_seconds * settings.fps))
    return hold, morph


def total_frames(images: int, settings: VideoSettings) -> int:
    """Frames of a video through `images` pictures: a hold on each and a morph between each pair."""
    hold, morph = count_frames(settings)
    return images * hold + (images - 1) * morph


# Returns the morph into picture `index` from the one before as `t -> HxWx3 uint8`,
# or None to use the optical-flow morph.
MorphSource = Callable[[int], Callable[[float], np.ndarray] | None]


def video_frames(pictures: Sequence[np.ndarray], size: tuple[int, int], settings: VideoSettings,
                 latent_morphs: MorphSource | None = None) -> Iterator[np.ndarray]:
    """Yield every frame (HxWx3 uint8 at `size`): hold, morph, hold, morph, ..., hold.

    Pictures are read by index one at a time, so a lazy sequence keeps only two
    in memory. A morph's first frame equals the hold before it, so it starts
    one step in and ends exactly on the next picture.
    """
    hold, morph_frames = count_frames(settings)
    current = fit_frame(pictures[0], size)
    for _ in range(hold):
        yield current
    for index in range(1, len(pictures)):
        target = fit_frame(pictures[index], size)
        render = latent_morphs(index) if latent_morphs is not None else None
        if render is None:
            render = FlowMorph(current, target, work_side=FLOW_WORK_SIDE).frame
        for step in range(1, morph_frames):
            yield fit_frame(render(ease(step / morph_frames)), size)
        # The last morph frame is the stored picture itself, also for a latent morph
        # whose decoded end differs slightly from it, so the hold that follows matches.
        yield target
        del render
        for _ in range(hold):
            yield target
        current = target


def render_video(pictures: Sequence[np.ndarray], out: Path | str, settings: VideoSettings,
                 size: tuple[int, int] | None = None, progress: FrameProgress | None = None,
                 latent_morphs: MorphSource | None = None) -> VideoSummary:
    """Encode the morph video through `pictures` (HxWx3 uint8, two or more) to an MP4 at `out`.

    `size` (width, height) defaults to the settings'. Raises `TwowayError` when
    ffmpeg fails; then nothing is left at `out` or under a temporary name.
    """
    import imageio_ffmpeg

    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise TwowayError("video.bad_format", path=out)
    if len(pictures) < 2:
        raise TwowayError("video.walk_empty")
    size = even_size(*(size or (settings.width, settings.height)))
    total = total_frames(len(pictures), settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}.mp4")
    log.info("rendering video of %d pictures, %d frames at %dx%d, %d fps -> %s",
             len(pictures), total, size[0], size[1], settings.fps, out)

    writer = imageio_ffmpeg.write_frames(
        str(temporary), size, fps=settings.fps, codec="libx264", pix_fmt_out="yuv420p",
        quality=None, macro_block_size=2, ffmpeg_log_level="error",
        output_params=["-crf", str(settings.crf), "-preset", "medium", "-profile:v", "high",
                       "-movflags", "+faststart"])
    written = 0
    try:
        writer.send(None)  # starts ffmpeg
        for frame in video_frames(pictures, size, settings, latent_morphs):
            writer.send(np.ascontiguousarray(frame))
            written += 1
            if progress is not None:
                progress(written, total)
        writer.close()
        os.replace(temporary, out)
    except (OSError, RuntimeError) as error:
        log.error("video encoding to %s failed after %d of %d frames: %s", out, written, total, error)
        writer.close()
        temporary.unlink(missing_ok=True)
        raise TwowayError("video.encoder_failed", reason=error, path=out) from error
    except BaseException:
        writer.close()
        temporary.unlink(missing_ok=True)
        raise

    log.info("video written: %s (%d frames)", out, written)
    return VideoSummary(out, written, written / settings.fps, size[0], size[1])


def walk_node_ids(archive) -> list[int]:
    """Return the visible nodes in genealogy-walk order: depth first, each child after its parent."""
    from installation.familytree import walk_tree

    return [node.id for _, node in walk_tree(archive.nodes(include_hidden=False))]


class NodePictures(Sequence):
    """The pictures of archive nodes, decoded only when indexed."""

    def __init__(self, archive, node_ids: list[int]):
        self.archive = archive
        self.node_ids = list(node_ids)

    def __len__(self) -> int:
        return len(self.node_ids)

    def __getitem__(self, index: int) -> np.ndarray:
        return np.asarray(self.archive.load_image(self.archive.node(self.node_ids[index])))


def render_node_video(archive, node_ids: list[int], out: Path | str, settings: VideoSettings,
                      size: tuple[int, int] | None = None, progress: FrameProgress | None = None,
                      network_settings=None, device: str | None = None) -> VideoSummary:
    """Render the morph video through the archive nodes `node_ids`, in that order.

    With `network_settings` (the whole Settings), a morph into a machine image
    whose network has a latent space decodes interpolated latents, as the kiosk
    does; every other morph, and any latent morph that fails, uses optical flow.
    `device` defaults to what networks.device resolves to.
    """
    for node_id in node_ids:
        archive.node(node_id)  # raises node_not_found before any encoding starts
    pictures = NodePictures(archive, node_ids)
    latent_morphs = None
    if network_settings is not None:
        latent_morphs = _latent_morph_source(archive, node_ids, pictures, network_settings, device)
    return render_video(pictures, out, settings, size, progress, latent_morphs)


def _latent_morph_source(archive, node_ids, pictures, network_settings, device) -> MorphSource:
    # The kiosk's morph job and the videos share one latent renderer.
    from installation.morph import _latent_renderer

    def latent_morph(index: int):
        node_a = archive.node(node_ids[index - 1])
        node_b = archive.node(node_ids[index])
        if node_b.kind != "machine" or not node_b.provenance.get("latent"):
            return None
        chosen = device or _resolve_device(network_settings)
        render = _latent_renderer(archive, node_a, node_b, pictures[index - 1], network_settings, chosen)
        log.info("morph %d -> %d by %s", node_a.id, node_b.id, "latent" if render else "optical flow")
        return render

    return latent_morph


def _resolve_device(network_settings) -> str:
    from models.registry import resolve_device

    return resolve_device(network_settings.networks.device)
