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
import logging
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"


class ConfigError(Exception):
    """A settings file or override that cannot be used; the message says why."""


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


@dataclass(frozen=True)
class GeneralSettings:
    language: str = setting("es", choices=("es", "en"))
    second_language: str = setting("en", choices=("", "es", "en"))
    artist: str = setting("")
    log_level: str = setting("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class Settings:
    """Every section of `config.toml`; `source` is the file it came from."""

    general: GeneralSettings = field(default_factory=GeneralSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
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
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the settings file ({error.strerror})")

    for override in overrides:
        _apply_override(raw, override, path)

    return _build(raw, path.resolve())


def _apply_override(raw: dict, override: str, path: Path) -> None:
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


def _build(raw: dict, path: Path) -> Settings:
    sections = {f.name: f for f in _sections()}
    built = {}
    for name, values in raw.items():
        if name not in sections:
            raise ConfigError(f"{path}: unknown section [{name}]{_suggest(name, sections)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [{name}] must be a table of settings, got {values!r}")
        built[name] = _build_section(sections[name].default_factory, name, values, path)
    return Settings(**built, source=path)


def _build_section(cls: type, section: str, values: dict, path: Path) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    checked = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown key {section}.{key}{_suggest(key, known)}")
        checked[key] = _check_value(f"{section}.{key}", value, hints[key], known[key].metadata, path)
    return cls(**checked)


def _suggest(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"


def _check_value(key: str, value: Any, hint: Any, limits: dict, path: Path) -> Any:
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
