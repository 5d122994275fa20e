import datetime as dt

import pytest

from installation.config import ConfigError, ScheduleSettings, load_settings
from installation.schedule import OpeningWatch, Schedule

# 2026-12-07 is a Monday.
MONDAY = dt.date(2026, 12, 7)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute))


def schedule(**changes) -> Schedule:
    return Schedule(ScheduleSettings(enabled=True, **changes))


def test_disabled_is_always_open():
    assert Schedule(ScheduleSettings(enabled=False, monday="")).is_open(at(MONDAY, 3))


@pytest.mark.parametrize("hour, minute, expected", [
    (9, 59, False), (10, 0, True), (13, 59, True), (14, 0, False), (16, 30, True), (20, 0, False),
])
def test_two_ranges_in_one_day(hour, minute, expected):
    hours = schedule(monday="10:00-14:00, 16:00-20:00")
    assert hours.is_open(at(MONDAY, hour, minute)) is expected


def test_closed_day():
    assert not schedule(tuesday="").is_open(at(MONDAY + dt.timedelta(days=1), 12))


def test_overnight_range_runs_into_next_day():
    hours = schedule(friday="20:00-02:00", saturday="")
    friday = MONDAY + dt.timedelta(days=4)
    assert hours.is_open(at(friday + dt.timedelta(days=1), 1, 30))


def test_overnight_range_closes_at_its_end():
    hours = schedule(friday="20:00-02:00", saturday="")
    friday = MONDAY + dt.timedelta(days=4)
    assert not hours.is_open(at(friday + dt.timedelta(days=1), 2, 0))


def test_midnight_end_written_as_24():
    hours = schedule(monday="18:00-24:00", tuesday="")
    assert hours.is_open(at(MONDAY, 23, 59))


def test_holiday_closes_the_day():
    hours = schedule(holidays=("2026-12-07",))
    assert not hours.is_open(at(MONDAY, 12))


def test_holiday_leaves_next_day_open():
    hours = schedule(holidays=("2026-12-07",))
    assert hours.is_open(at(MONDAY + dt.timedelta(days=1), 12))


def test_next_change_is_closing_time():
    hours = schedule(monday="10:00-20:00")
    assert hours.next_change(at(MONDAY, 12)) == at(MONDAY, 20)


def test_next_change_skips_holiday():
    hours = schedule(holidays=("2026-12-08",))
    assert hours.next_change(at(MONDAY, 21)) == at(MONDAY + dt.timedelta(days=2), 10)


@pytest.mark.parametrize("text", ["10-20", "25:00-26:00", "10:00-20:61", "ten to eight"])
def test_bad_hours_rejected(text):
    with pytest.raises(ConfigError, match="schedule.monday"):
        ScheduleSettings(monday=text)


def test_bad_holiday_rejected():
    with pytest.raises(ConfigError, match="2026-13-01"):
        ScheduleSettings(holidays=("2026-13-01",))


def test_bad_hours_in_settings_file_name_the_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[schedule]\nsunday = "noon"\n')
    with pytest.raises(ConfigError, match="schedule.sunday"):
        load_settings(path)


def test_watch_follows_the_clock():
    moments = iter([at(MONDAY, 19, 59), at(MONDAY, 20, 1)])
    watch = OpeningWatch(schedule(), interval=0.0, clock=lambda: next(moments))
    assert [watch.update(), watch.update()] == [True, False]


@pytest.fixture
def screen():
    import pygame

    pygame.display.init()
    yield pygame.display.set_mode((80, 60))
    pygame.display.quit()


def test_closed_screen_is_black(screen):
    from installation.schedule import ClosedScreen

    screen.fill((255, 255, 255))
    ClosedScreen(None).draw(screen)
    assert tuple(screen.get_at((40, 30)))[:3] == (0, 0, 0)


def test_closed_screen_shows_still(screen, tmp_path):
    from PIL import Image

    from installation.schedule import ClosedScreen

    path = tmp_path / "closed.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    ClosedScreen(path).draw(screen)
    assert tuple(screen.get_at((40, 30)))[:3] == (200, 10, 10)


def test_closed_screen_broken_still_is_black(screen, tmp_path):
    from installation.schedule import ClosedScreen

    path = tmp_path / "closed.png"
    path.write_bytes(b"not an image")
    ClosedScreen(path).draw(screen)
    assert tuple(screen.get_at((40, 30)))[:3] == (0, 0, 0)
