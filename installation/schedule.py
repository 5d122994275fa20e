"""Opening hours: when the gallery is open, and what the screen does while it is closed.

Each weekday has a list of time ranges in local time. A range whose end is not
after its start runs past midnight and belongs to the day it starts on. A date
in `holidays` closes every range that starts on it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from installation.config import ScheduleSettings

log = logging.getLogger(__name__)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class OpeningRange:
    """One range of opening hours, with `end <= start` when it runs past midnight."""

    start: dt.time
    end: dt.time

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def bounds(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """Return the opening and closing moments of this range when it starts on `day`."""
        opening = dt.datetime.combine(day, self.start)
        closing_day = day + dt.timedelta(days=1) if self.overnight else day
        return opening, dt.datetime.combine(closing_day, self.end)


def parse_ranges(key: str, text: str) -> tuple[OpeningRange, ...]:
    """Parse "10:00-14:00, 16:00-20:00", or "" for closed, and raise ConfigError naming `key` if invalid."""
    from installation.config import ConfigError

    ranges = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        match = RANGE.match(part)
        times = [int(number) for number in match.groups()] if match else []
        if not match or not (_valid_time(*times[:2]) and _valid_time(*times[2:])):
            raise ConfigError(f"{key} = {text!r} is invalid: expected \"\" (closed) or ranges of "
                              f"24-hour times such as \"10:00-14:00, 16:00-20:00\"")
        start = _to_time(times[0], times[1])
        end = _to_time(times[2], times[3])
        ranges.append(OpeningRange(start, end))
    return tuple(ranges)


def _valid_time(hour: int, minute: int) -> bool:
    return (0 <= hour < 24 and 0 <= minute < 60) or (hour == 24 and minute == 0)


def _to_time(hour: int, minute: int) -> dt.time:
    # "24:00" closes at midnight; as a time of day it is 00:00, which makes the range overnight.
    return dt.time(hour % 24, minute)


def parse_holidays(dates: tuple[str, ...]) -> frozenset[dt.date]:
    """Parse "YYYY-MM-DD" strings and raise ConfigError naming the first invalid one."""
    from installation.config import ConfigError

    parsed = set()
    for text in dates:
        try:
            parsed.add(dt.date.fromisoformat(text))
        except ValueError:
            raise ConfigError(f"schedule.holidays contains {text!r}, which is not a date: "
                              f"write dates as \"YYYY-MM-DD\", for example \"2026-12-25\"") from None
    return frozenset(parsed)


def check_schedule_settings(settings: ScheduleSettings) -> None:
    """Raise ConfigError when a day's hours or a holiday cannot be parsed."""
    for day in WEEKDAYS:
        parse_ranges(f"schedule.{day}", getattr(settings, day))
    parse_holidays(settings.holidays)


class Schedule:
    """Opening hours from `ScheduleSettings`. With `enabled = false` it is always open."""

    def __init__(self, settings: ScheduleSettings, base: Path | None = None):
        self.settings = settings
        self.enabled = settings.enabled
        self.ranges = {index: parse_ranges(f"schedule.{day}", getattr(settings, day))
                       for index, day in enumerate(WEEKDAYS)}
        self.holidays = parse_holidays(settings.holidays)
        self.closed_image = _resolve(settings.closed_image, base)

    def is_open(self, now: dt.datetime) -> bool:
        """Return whether `now` (naive local time) falls inside opening hours."""
        if not self.enabled:
            return True
        # A range that started yesterday may still be running past midnight.
        for day in (now.date() - dt.timedelta(days=1), now.date()):
            for opening, closing in self._periods(day):
                if opening <= now < closing:
                    return True
        return False

    def next_change(self, now: dt.datetime) -> dt.datetime | None:
        """Return the next moment the schedule opens or closes within eight days, or None."""
        if not self.enabled:
            return None
        current = self.is_open(now)
        moments = set()
        for offset in range(-1, 8):
            for opening, closing in self._periods(now.date() + dt.timedelta(days=offset)):
                moments.update((opening, closing))
        for moment in sorted(m for m in moments if m > now):
            if self.is_open(moment) != current:
                return moment
        return None

    def _periods(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        if day in self.holidays:
            return []
        return [r.bounds(day) for r in self.ranges[day.weekday()]]


def _resolve(path: str, base: Path | None) -> Path | None:
    if not path:
        return None
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and base is not None:
        resolved = base / resolved
    return resolved


class OpeningWatch:
    """Track the schedule from the display loop, looking at the clock at most every `interval` seconds.

    `update()` returns True while open and logs every opening and closing.
    """

    def __init__(self, schedule: Schedule, interval: float = 5.0, clock=dt.datetime.now):
        self.schedule = schedule
        self.interval = interval
        self.clock = clock
        self._checked_at: dt.datetime | None = None
        self._open: bool | None = None

    def update(self) -> bool:
        now = self.clock()
        stale = self._checked_at is None or abs((now - self._checked_at).total_seconds()) >= self.interval
        if stale:
            self._checked_at = now
            is_open = self.schedule.is_open(now)
            if is_open != self._open:
                change = self.schedule.next_change(now)
                log.info("schedule: %s now, until %s", "open" if is_open else "closed",
                         change.isoformat(timespec="minutes") if change else "further notice")
            self._open = is_open
        return bool(self._open)


class ClosedScreen:
    """What the screen shows while closed: black, or `image_path` scaled to fit and centred.

    The still is loaded and scaled on the first draw at a given screen size; a
    missing or broken file is logged once and the screen stays black.
    """

    def __init__(self, image_path: Path | None):
        self.image_path = image_path
        self._still = None
        self._size: tuple[int, int] | None = None

    def draw(self, screen) -> None:
        screen.fill((0, 0, 0))
        if self.image_path is None:
            return
        if self._size != screen.get_size():
            self._size = screen.get_size()
            self._still = self._load(self._size)
        if self._still is not None:
            x = (self._size[0] - self._still.get_width()) // 2
            y = (self._size[1] - self._still.get_height()) // 2
            screen.blit(self._still, (x, y))

    def _load(self, size: tuple[int, int]):
        import pygame

        try:
            image = pygame.image.load(str(self.image_path))
        except (pygame.error, OSError) as error:
            log.error("schedule.closed_image %s cannot be shown (%s); showing black", self.image_path, error)
            return None
        scale = min(size[0] / image.get_width(), size[1] / image.get_height())
        target = (max(1, round(image.get_width() * scale)), max(1, round(image.get_height() * scale)))
        return pygame.transform.smoothscale(image.convert(), target)
