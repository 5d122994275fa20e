"""Jobs for the worker process and the events it sends back.

This module imports nothing heavy: the display process builds `Job`s and reads
events, while the handlers named in `JOB_HANDLERS` are imported only inside
the worker process.

A handler is `handler(params: dict, context: JobContext) -> dict`. It reports
progress through `context.progress`, stops early when `context.cancelled()`
is true (raising `JobCancelled` or the network's `Cancelled`), and returns a
JSON-safe result dict.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Callable

import numpy as np

# Job kind -> "module:function", imported lazily in the worker process.
JOB_HANDLERS: dict[str, str] = {
    "generate": "models.job_handlers:generate",
    "train": "models.job_handlers:train",
    "morph": "installation.morph:morph_job",
    "reference": "installation.reference:reference_job",
    "sleep": "models.job_handlers:sleep",  # waits and reports progress; checks the worker itself
}


class Priority(IntEnum):
    """Order of the worker's queue: lower values run first."""

    VISITOR = 0
    ARTIST = 1
    BACKGROUND = 2


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class Job:
    """One unit of work for the worker; `params` must be picklable."""

    kind: str
    params: dict = field(default_factory=dict)
    priority: Priority = Priority.ARTIST
    id: str = field(default_factory=new_job_id)


class JobCancelled(Exception):
    """Raised by a handler that stopped because its job was cancelled."""


# --- events from the worker, returned by WorkerClient.poll() ------------------------------

@dataclass(frozen=True)
class JobStarted:
    job_id: str
    kind: str


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    fraction: float  # 0 to 1
    stage: str
    preview: np.ndarray | None = None  # HxWx3 uint8, the result as it forms


@dataclass(frozen=True)
class JobDone:
    job_id: str
    result: dict  # generate: {"node_ids": [...]}


@dataclass(frozen=True)
class JobFailed:
    job_id: str
    reason: str  # English, for logs and the status overlay; "cancelled" when cancelled


@dataclass(frozen=True)
class WorkerRestarted:
    reason: str


Event = JobStarted | JobProgress | JobDone | JobFailed | WorkerRestarted


@dataclass
class JobContext:
    """The worker-side services a handler uses besides its params."""

    job_id: str
    archive: Any  # installation.archive.Archive, opened in the worker
    device: str  # "cpu" or "cuda"
    settings: Any  # installation.config.Settings
    _report: Callable[[float, str, np.ndarray | None], None] = field(repr=False)
    _is_cancelled: Callable[[], bool] = field(repr=False)

    def progress(self, fraction: float, stage: str, preview: np.ndarray | None = None) -> None:
        """Send a progress event (fraction 0 to 1, stage name, optional HxWx3 uint8 preview)."""
        self._report(fraction, stage, preview)

    def cancelled(self) -> bool:
        """Return whether the job was cancelled or pre-empted by a more urgent one."""
        return self._is_cancelled()
