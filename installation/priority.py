"""Scheduling of threads that should not hold up the display loop.

On Linux, a thread's nice value and scheduling class belong to that thread
alone, and the threads it starts afterwards inherit them. Each function here
changes only the calling thread, logs why where it cannot, and returns whether
it could.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def lower_priority(increment: int) -> bool:
    """Add `increment` to the calling thread's nice value (higher yields the processor more)."""
    if increment <= 0:
        return True
    try:
        os.nice(increment)
    except OSError as error:
        log.warning("thread keeps its priority: %s", error)
        return False
    return True


def use_idle_time() -> bool:
    """Put the calling thread, and the threads it starts later, in Linux's idle scheduling class.

    The kernel runs such a thread only when no thread of a normal class wants
    the core, so it does not hold up the display loop in the middle of a frame.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError) as error:
        log.warning("thread keeps the normal scheduling class: %s", error)
        return False
    return True
