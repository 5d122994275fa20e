"""Settings: `config.toml` read once into typed dataclasses, one per section.

Each section is a frozen dataclass. A field's metadata may carry `min`, `max`
or `choices`; `load_settings` checks every value against its type and those
limits and raises `ConfigError` naming the file, the key, the bad value and
what is allowed. Unknown keys are errors too, with the nearest known key
suggested, so a typo never passes silently.

To add a setting: add a field to a section dataclass here and the same key,
with a comment, to `config.toml`. A test checks that both list the same keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


class ConfigError(Exception):
    """A settings file or override that cannot be used; the message explains why."""


def setting(default: Any, *, min: float | None = None, max: float | None = None,
            choices: tuple | None = None) -> Any:
    """Declare a setting with its default and the values it allows."""
    metadata = {"min": min, "max": max, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ArchiveSettings:
    path: str = setting("archive")
    max_import_pixels: int = setting(100_000_000, min=1)
    max_stored_side: int = setting(4096, min=64, max=16384)
    thumbnail_side: int = setting(256, min=32, max=1024)
    min_free_mb: int = setting(500, min=0)

    def __post_init__(self):
        if not self.path.strip():
            raise ConfigError("archive.path = '' is invalid: name a folder, for example \"archive\"")


@dataclass(frozen=True)
class GeneralSettings:
    language: str = setting("es", choices=("es", "en"))
    second_language: str = setting("en", choices=("", "es", "en"))
    artist: str = setting("")
    log_level: str = setting("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class ScheduleSettings:
    """Opening hours: outside them the screen is blank and the program idles."""

    enabled: bool = setting(False)
    # Each day: "" (closed) or ranges such as "10:00-14:00, 16:00-20:00"; a range
    # whose end is not after its start runs past midnight.
    monday: str = setting("10:00-20:00")
    tuesday: str = setting("10:00-20:00")
    wednesday: str = setting("10:00-20:00")
    thursday: str = setting("10:00-20:00")
    friday: str = setting("10:00-20:00")
    saturday: str = setting("10:00-20:00")
    sunday: str = setting("10:00-20:00")
    holidays: tuple[str, ...] = setting(())  # closed dates, "YYYY-MM-DD"
    closed_image: str = setting("")  # still shown while closed; "" is black
    closed_fps: int = setting(2, min=1, max=30)
    allow_screensaver: bool = setting(True)
    train_when_closed: bool = setting(False)

    def __post_init__(self):
        from installation.schedule import check_schedule_settings

        check_schedule_settings(self)


@dataclass(frozen=True)
class ServiceSettings:
    """Running under systemd: the unit file, the watchdog and the status line."""

    display: str = setting("kms", choices=("desktop", "cage", "kms"))
    user: str = setting("twoway")
    watchdog_s: int = setting(30, min=2, max=3600)
    restart_s: int = setting(5, min=1, max=3600)
    restart_max_s: int = setting(300, min=1, max=86400)
    start_limit_burst: int = setting(20, min=1, max=1000)
    start_limit_interval_s: int = setting(3600, min=10, max=86400)
    display_wait_s: int = setting(60, min=0, max=3600)
    status_interval_s: int = setting(60, min=1, max=3600)
    stop_timeout_s: float = setting(5.0, min=0.5, max=60.0)
    freeze_after_s: float = setting(0.0, min=0.0)


@dataclass(frozen=True)
class DiskSettings:
    """The disk guard: generation and capture pause when free space runs low."""

    pause_below_mb: int = setting(2000, min=0)
    resume_margin_mb: int = setting(500, min=0)
    check_interval_s: float = setting(10.0, min=0.1, max=3600.0)


@dataclass(frozen=True)
class ReferenceSettings:
    """Reference sheets to paint from: paper, resolution, default canvas, grid and palette."""

    paper: str = setting("A4", choices=("A4", "A3"))
    dpi: int = setting(200, min=72, max=600)  # pixels per inch of the PNG and of the picture in the PDF
    canvas_width_cm: float = setting(50.0, min=1.0, max=1000.0)
    canvas_height_cm: float = setting(70.0, min=1.0, max=1000.0)
    grid_cm: float = setting(5.0, min=0.0, max=500.0)  # 0 draws no grid
    colours: int = setting(10, min=2, max=16)
    format: str = setting("pdf", choices=("pdf", "png"))
    folder: str = setting("references")


@dataclass(frozen=True)
class VideoSettings:
    """Morph videos: H.264 MP4 files for phones and social networks."""

    width: int = setting(1080, min=64, max=3840)
    height: int = setting(1080, min=64, max=3840)
    fps: int = setting(30, min=1, max=120)
    morph_seconds: float = setting(4.0, min=0.1, max=600.0)
    hold_seconds: float = setting(1.5, min=0.0, max=60.0)
    crf: int = setting(20, min=0, max=51)  # x264 constant rate factor: lower is better and larger
    folder: str = setting("videos")


@dataclass(frozen=True)
class CaptureSettings:
    """The camera: where frames come from, finding the canvas, when to take a picture."""

    source: str = setting("none", choices=("none", "device", "path", "video", "folder"))
    device_index: int = setting(0, min=0, max=63)
    device_path: str = setting("")  # best a stable /dev/v4l/by-id/... name
    video_path: str = setting("")  # a video file played as a camera, for rehearsals and tests
    watch_folder: str = setting("")  # photos dropped here are taken as camera frames
    width: int = setting(1920, min=0, max=8192)  # requested frame size in pixels; 0 keeps the camera's
    height: int = setting(1080, min=0, max=8192)
    fps: float = setting(30.0, min=0.0, max=240.0)  # requested frame rate; 0 keeps the camera's
    exposure: float = setting(0.0)  # backend units; 0 leaves automatic exposure on
    white_balance_k: int = setting(0, min=0, max=15000)  # 0 leaves automatic white balance on
    focus: float = setting(-1.0, min=-1.0)  # backend units; -1 leaves autofocus on
    frozen_after_s: float = setting(3.0, min=0.5, max=600.0)
    reopen_min_s: float = setting(0.5, min=0.05, max=600.0)
    reopen_max_s: float = setting(10.0, min=0.05, max=3600.0)
    detect_interval_s: float = setting(0.2, min=0.0, max=60.0)
    detect_side: int = setting(480, min=160, max=2048)  # pixels of the long side searched first
    min_confidence: float = setting(0.5, min=0.0, max=1.0)
    min_canvas_fraction: float = setting(0.04, min=0.0, max=1.0)
    still_seconds: float = setting(2.0, min=0.0, max=600.0)
    still_change: float = setting(3.0, min=0.0, max=255.0)  # mean grey-level difference
    corner_tolerance: float = setting(0.01, min=0.0, max=1.0)  # fraction of the frame diagonal
    duplicate_threshold: float = setting(6.0, min=0.0, max=255.0)  # mean grey-level difference
    corners: tuple[float, ...] = setting(())  # 8 numbers: x, y of 4 corners, pixels; () detects
    canvas_width_cm: float = setting(0.0, min=0.0, max=10000.0)  # 0 measures proportions
    canvas_height_cm: float = setting(0.0, min=0.0, max=10000.0)
    grey_reference: tuple[float, ...] = setting(())  # x, y, width, height of a grey card, pixels
    calibration_file: str = setting("")  # .npz with camera_matrix and dist_coeffs
    live_painting: bool = setting(False)
    live_network: str = setting("patches")
    live_change: float = setting(4.0, min=0.0, max=255.0)  # mean grey-level difference

    def __post_init__(self):
        if len(self.corners) not in (0, 8):
            raise ConfigError(f"capture.corners = {list(self.corners)} is invalid: expected [] to detect the "
                              "canvas, or 8 numbers, x and y of the 4 corners clockwise from top-left")
        if len(self.grey_reference) not in (0, 4):
            raise ConfigError(f"capture.grey_reference = {list(self.grey_reference)} is invalid: expected [] "
                              "for none, or 4 numbers, x, y, width and height of the grey card in pixels")


@dataclass(frozen=True)
class OscSettings:
    """The OSC server for the artist's tablet and show software."""

    enabled: bool = setting(True)
    host: str = setting("0.0.0.0")  # address to listen on; "::" for IPv6
    port: int = setting(8000, min=0, max=65535)  # UDP port; 0 lets the system choose
    root: str = setting("/twoway")
    reply_port: int = setting(0, min=0, max=65535)  # 0 replies to the sender's own port
    allow: tuple[str, ...] = setting(("127.0.0.0/8", "::1"))
    visitor_networks: tuple[str, ...] = setting(("127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12",
                                                 "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10"))
    feedback_clients: tuple[str, ...] = setting(())
    feedback_interval_s: float = setting(0.1, min=0.02, max=5.0)
    max_clients: int = setting(16, min=1, max=256)
    client_timeout_s: float = setting(600.0, min=10.0)
    max_datagram_bytes: int = setting(8192, min=512, max=65507)
    max_bundle_messages: int = setting(64, min=1, max=1024)
    max_bundle_delay_s: float = setting(2.0, min=0.0, max=60.0)
    max_scheduled: int = setting(256, min=1, max=10000)
    receive_buffer_bytes: int = setting(4_194_304, min=65536)
    error_replies_per_second: int = setting(10, min=1, max=1000)
    max_datagrams_per_second: int = setting(2000, min=10, max=1_000_000)  # per sending host

    def __post_init__(self):
        for key in ("allow", "visitor_networks"):
            for entry in getattr(self, key):
                try:
                    ipaddress.ip_network(str(entry).strip(), strict=False)
                except ValueError:
                    raise ConfigError(f"osc.{key} has {entry!r}, which is not an IP address or range: "
                                      "write addresses such as \"192.168.1.20\" or ranges such as "
                                      "\"192.168.1.0/24\"") from None


@dataclass(frozen=True)
class DisplaySettings:
    """The kiosk window, the scenes' timings and the artist's keys."""

    fullscreen: bool = setting(True)
    display_index: int = setting(0, min=0, max=15)  # which monitor, counted from 0
    window_width: int = setting(1280, min=160, max=7680)  # windowed mode, pixels
    window_height: int = setting(720, min=120, max=4320)
    fps: int = setting(60, min=10, max=240)
    background: tuple[int, ...] = setting((12, 12, 12), min=0, max=255)  # RGB of the letterbox
    hold_s: float = setting(8.0, min=0.5, max=3600.0)
    chosen_hold_factor: float = setting(2.0, min=1.0, max=20.0)
    morph_s: float = setting(6.0, min=0.5, max=600.0)
    morph_frames: int = setting(48, min=2, max=1000)
    morph_work_side: int = setting(512, min=64, max=2048)  # pixels; optical flow resolution
    frame_cache_mb: int = setting(800, min=64, max=65536)
    transition_s: float = setting(0.8, min=0.05, max=10.0)
    caption_px: int = setting(40, min=12, max=200)  # height of the primary caption line
    captions: bool = setting(True)
    tree_thumbnail_px: int = setting(160, min=48, max=512)
    refresh_s: float = setting(5.0, min=0.5, max=600.0)  # how often the archive is re-read
    visitor_caption_s: float = setting(20.0, min=1.0, max=600.0)
    demo_children: int = setting(3, min=0, max=20)
    key_next: str = setting("right")
    key_previous: str = setting("left")
    key_walk: str = setting("w")
    key_tree: str = setting("t")
    key_live: str = setting("l")
    key_status: str = setting("s")
    key_pause: str = setting("p")
    key_quit: str = setting("q")  # quits only together with Ctrl

    def __post_init__(self):
        if len(self.background) != 3:
            raise ConfigError(f"display.background = {list(self.background)} is invalid: "
                              "expected three numbers, red, green and blue, 0 to 255")


@dataclass(frozen=True)
class VisitorSettings:
    """The visitor's button: which key it is and how often it may start a child."""

    button_key: str = setting("space")  # a pygame key name; USB arcade buttons send a key
    per_minute: int = setting(6, min=1, max=600)
    network: str = setting("")  # "" uses the instant network of the networks settings


@dataclass(frozen=True)
class NetworksSettings:
    network: str = setting("patches", choices=("patches", "multiscale"))
    device: str = setting("auto", choices=("auto", "cpu", "cuda"))
    output_side: int = setting(512, min=32, max=4096)
    max_children: int = setting(16, min=1, max=256)
    max_input_pixels: int = setting(50_000_000, min=1024)
    patch_size: int = setting(7, min=3, max=15)
    patch_coarsest_side: int = setting(32, min=12, max=256)
    patch_scale_ratio: float = setting(0.75, min=0.5, max=0.9)
    patch_iterations: int = setting(3, min=1, max=20)
    patch_coarsest_iterations: int = setting(8, min=1, max=50)
    patch_noise: float = setting(0.5, min=0.0, max=5.0)
    patch_warp: float = setting(0.15, min=0.0, max=1.0)
    patch_coverage: float = setting(0.05, min=0.0, max=100.0)
    patch_candidates: int = setting(8, min=1, max=64)
    patch_stride: int = setting(2, min=1, max=7)
    patch_search_dims: int = setting(24, min=4, max=675)
    patch_coherence_penalty: float = setting(1.0, min=0.0, max=100.0)


@dataclass(frozen=True)
class WorkerSettings:
    cpu_threads: int = setting(0, min=0, max=256)
    start_timeout_s: float = setting(60.0, min=1.0, max=600.0)
    heartbeat_s: float = setting(0.5, min=0.05, max=10.0)
    heartbeat_timeout_s: float = setting(2.0, min=0.2, max=60.0)
    restart_delay_s: float = setting(1.0, min=0.0, max=60.0)
    restart_max_delay_s: float = setting(60.0, min=0.0, max=3600.0)
    stop_timeout_s: float = setting(5.0, min=0.1, max=60.0)
    malloc_mmap_threshold_mb: int = setting(32, min=0, max=1024)
    malloc_trim_threshold_mb: int = setting(64, min=0, max=4096)
    nice: int = setting(10, min=0, max=19)
    idle_scheduling: bool = setting(True)


@dataclass(frozen=True)
class MultiscaleSettings:
    """The multiscale network: a pyramid of small generators learned from one painting."""

    size_cpu: int = setting(192, min=32, max=2048)  # long side trained on a CPU, pixels
    size_gpu: int = setting(384, min=32, max=4096)  # long side trained on CUDA, pixels
    coarsest_side: int = setting(24, min=8, max=256)  # short side of the coarsest scale, pixels
    scale_factor: float = setting(0.7, min=0.3, max=0.95)  # size ratio of a scale to the next finer
    channels: int = setting(32, min=4, max=256)  # feature maps per convolution
    fine_channels: int = setting(32, min=4, max=256)  # the same at scales of long side >= fine_side
    fine_side: int = setting(90, min=8, max=4096)  # pixels
    layers: int = setting(5, min=2, max=12)  # 3x3 convolutions per generator and discriminator
    iterations: int = setting(600, min=1, max=100_000)  # at the finest scale; more at coarser ones
    trained_together: int = setting(3, min=1, max=16)  # newest scales trained in each stage
    older_lr_factor: float = setting(0.1, min=0.0, max=1.0)  # learning rate factor per scale down
    learning_rate: float = setting(5e-4, min=1e-6, max=1e-1)
    lr_drop_at: float = setting(0.8, min=0.0, max=1.0)  # fraction of a stage after which lr is 1/10
    discriminator_steps: int = setting(1, min=1, max=10)
    generator_steps: int = setting(1, min=1, max=10)
    gradient_penalty: float = setting(0.1, min=0.0, max=100.0)
    reconstruction_weight: float = setting(10.0, min=0.0, max=1000.0)
    noise_weight: float = setting(0.1, min=0.0, max=10.0)  # noise amplitude / reconstruction RMS error
    precision: str = setting("auto", choices=("auto", "fp32", "bf16"))
    seed: int = setting(0, min=0)
    samples: int = setting(4, min=0, max=32)  # samples in each scale's grid
    vary_from_scale: int = setting(1, min=0, max=32)  # children take new noise from this scale up
    child_change: float = setting(0.35, min=0.0, max=2.0)  # children's mean pixel change / the painting's pixel std
    encode_steps: int = setting(200, min=0, max=10_000)
    same_image_error: float = setting(0.02, min=0.0, max=1.0)  # mean abs error on 0..1
    breathing_step: float = setting(0.008, min=0.0, max=1.0)
    breathing_momentum: float = setting(0.9, min=0.0, max=0.999)
    breathing_pull: float = setting(0.02, min=0.0, max=1.0)


@dataclass(frozen=True)
class Settings:
    """Every section of `config.toml`; `source` is the file it came from."""

    general: GeneralSettings = field(default_factory=GeneralSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    disk: DiskSettings = field(default_factory=DiskSettings)
    reference: ReferenceSettings = field(default_factory=ReferenceSettings)
    video: VideoSettings = field(default_factory=VideoSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    osc: OscSettings = field(default_factory=OscSettings)
    display: DisplaySettings = field(default_factory=DisplaySettings)
    visitor: VisitorSettings = field(default_factory=VisitorSettings)
    networks: NetworksSettings = field(default_factory=NetworksSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    multiscale: MultiscaleSettings = field(default_factory=MultiscaleSettings)
    source: Path = DEFAULT_CONFIG

    def archive_dir(self) -> Path:
        """Return the archive folder; a relative path is taken beside the settings file."""
        path = Path(self.archive.path).expanduser()
        return path if path.is_absolute() else self.source.parent / path

    def describe(self) -> str:
        """Return every resolved setting as `section.key = value` lines."""
        lines = []
        for section in _sections():
            values = getattr(self, section.name)
            for item in dataclasses.fields(values):
                lines.append(f"{section.name}.{item.name} = {getattr(values, item.name)!r}")
        return "\n".join(lines)


def _sections() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(Settings) if f.name != "source"]


def load_settings(path: Path | str | None = None, overrides: list[str] = ()) -> Settings:
    """Read a settings file, apply `section.key=value` overrides and validate everything."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: settings file not found; pass --config with an existing file")
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error}); fix the line it names")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the settings file with UTF-8 encoding")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the settings file ({error.strerror})")

    overridden = {_apply_override(raw, override, path) for override in overrides}
    return _build(raw, path.resolve(), overridden)


def _apply_override(raw: dict, override: str, path: Path) -> tuple[str, str]:
    """Set one `section.key=value` override in `raw` and return (section, key)."""
    key, separator, text = override.partition("=")
    section, dot, name = key.strip().partition(".")
    if not separator or not dot or not section or not name:
        raise ConfigError(f"--set {override!r}: expected section.key=value, for example display.fullscreen=false")
    try:
        value = tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        # A bare word such as `en` or `archive2` is taken as a string.
        value = text.strip()
    raw.setdefault(section, {})
    if not isinstance(raw[section], dict):
        raise ConfigError(f"{path}: [{section}] must be a table of settings")
    raw[section][name] = value
    return section, name


def _build(raw: dict, path: Path, overridden: set[tuple[str, str]] = frozenset()) -> Settings:
    sections = {f.name: f for f in _sections()}
    built = {}
    for name, values in raw.items():
        if name not in sections:
            source = "--set" if any(section == name for section, _ in overridden) else path
            raise ConfigError(f"{source}: unknown section [{name}]{_suggest(name, sections)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [{name}] must be a table of settings, got {values!r}")
        built[name] = _build_section(sections[name].default_factory, name, values, path, overridden)
    return Settings(**built, source=path)


def _build_section(cls: type, section: str, values: dict, path: Path,
                   overridden: set[tuple[str, str]] = frozenset()) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    checked = {}
    for key, value in values.items():
        # An error names where the value came from: the settings file or a --set option.
        source = "--set" if (section, key) in overridden else path
        if key not in known:
            raise ConfigError(f"{source}: unknown key {section}.{key}{_suggest(key, known)}")
        checked[key] = _check_value(f"{section}.{key}", value, hints[key], known[key].metadata, source)
    return cls(**checked)


def _suggest(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"


def _check_value(key: str, value: Any, hint: Any, limits: dict, path: Path | str) -> Any:
    """Check one value against its declared type and limits and return it converted."""
    prefix = f"{path}: {key} = {value!r} is invalid"
    value = _check_type(prefix, value, hint)

    choices = limits.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{prefix}: allowed values are {', '.join(repr(c) for c in choices)}")
    low, high = limits.get("min"), limits.get("max")
    numbers = value if isinstance(value, tuple) else (value,)
    for number in numbers:
        if low is not None and isinstance(number, (int, float)) and number < low:
            raise ConfigError(f"{prefix}: must be at least {low}")
        if high is not None and isinstance(number, (int, float)) and number > high:
            raise ConfigError(f"{prefix}: must be at most {high}")
    return value


def _check_type(prefix: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{prefix}: expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{prefix}: expected a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{prefix}: expected a number")
        if math.isnan(value):
            raise ConfigError(f"{prefix}: expected a number, not nan")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{prefix}: expected text in quotes")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{prefix}: expected a list in square brackets")
        item_hint = typing.get_args(hint)[0]
        return tuple(_check_type(prefix, item, item_hint) for item in value)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check_type(prefix, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{prefix}: expected {hint}")
    if hint is Any or hint is dict:
        return value
    raise ConfigError(f"{prefix}: unsupported setting type {hint}")
