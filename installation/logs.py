"""Logging set-up: one handler, plain lines, for journald or a terminal."""

from __future__ import annotations

import logging
import sys
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO", stream=None) -> None:
    """Send every logger's records to `stream` (standard output by default) at `level`."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


class RateLimitedLog:
    """Log a repeated message at most once per `interval` seconds, counting what it skipped."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0):
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *args) -> bool:
        """Log unless `key` was logged within the interval; return whether it was logged."""
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.interval:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return False
        skipped = self._skipped.pop(key, 0)
        suffix = f" ({skipped} similar messages skipped)" if skipped else ""
        self.logger.log(level, message + suffix, *args)
        self._last[key] = now
        return True
