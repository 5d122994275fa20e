"""The worker process that runs torch, and the client the display process talks to it through.

`WorkerClient` lives in the display process and never imports torch. It keeps
the queue of jobs, ordered by priority, and sends the worker one job at a time
over a pipe. The worker (`worker_main`, started with `spawn`) runs the job's
handler from `JOB_HANDLERS` and sends back progress, the result and a
heartbeat every `worker.heartbeat_s`.

`poll()` is called once per frame and does not wait for the worker. It forwards the worker's
events, notices a worker that died (any signal, a crash, an exit) or stopped
sending heartbeats, fails its job with the reason, and restarts it after a
back-off delay that doubles with each failure in a row.

A visitor's job that arrives while a background job runs pre-empts it: the
background job is cancelled and queued again, and a training job resumes from
its checkpoint.
"""

from __future__ import annotations

import heapq
import importlib
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from installation.config import Settings
from installation.jobs import (JOB_HANDLERS, Event, Job, JobCancelled, JobContext, JobDone, JobFailed,
                               JobProgress, JobStarted, Priority, WorkerRestarted)
from installation.priority import lower_priority, use_idle_time
from installation.state import StateBoard
from installation.texts import TwowayError

log = logging.getLogger(__name__)

OUT_OF_MEMORY_EXIT = 3  # the worker exits with this code after CUDA ran out of memory
STABLE_AFTER_S = 60.0  # a worker up this long without failing resets the back-off delay
PREEMPTED = "preempted"

_environment_lock = threading.Lock()


def worker_environment(settings: Settings) -> dict[str, str]:
    """Return the environment variables a new worker process is started with.

    glibc's allocator thresholds are bounded. With glibc's adaptive defaults, torch
    on the CPU page-faulted large tensors on every call and ran up to twice as
    slow. Unbounded thresholds kept freed memory, and a long job grew by several GB.
    """
    options = settings.worker
    threads = str(cpu_threads(settings))
    environment = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                   "OPENBLAS_NUM_THREADS": threads}
    if options.malloc_mmap_threshold_mb:
        environment["MALLOC_MMAP_THRESHOLD_"] = str(options.malloc_mmap_threshold_mb * 1024 * 1024)
    if options.malloc_trim_threshold_mb:
        environment["MALLOC_TRIM_THRESHOLD_"] = str(options.malloc_trim_threshold_mb * 1024 * 1024)
    return environment


def cpu_threads(settings: Settings) -> int:
    """Return the worker's thread count: `worker.cpu_threads`, or all cores but one for the display."""
    if settings.worker.cpu_threads:
        return settings.worker.cpu_threads
    return max(1, (os.cpu_count() or 2) - 1)


class WorkerClient:
    """The display process's handle on the worker process; see the module docstring."""

    def __init__(self, settings: Settings, board: StateBoard | None = None):
        self.settings = settings
        self.options = settings.worker
        self.board = board
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._connection: Connection | None = None
        self._pending: list[tuple[int, int, Job]] = []  # heap of (priority, order, job)
        self._order = itertools.count()
        self._running: Job | None = None
        self._cancelled: set[str] = set()  # running jobs cancelled by the caller
        self._events: list[Event] = []
        self._state = "stopped"
        self._started_at = 0.0
        self._ready_at = 0.0
        self._last_heartbeat = 0.0
        self._restart_at = 0.0
        self._failures = 0
        self.device = ""

    # --- public interface -------------------------------------------------------------

    @property
    def state(self) -> str:
        """One of "starting", "idle", "busy", "restarting", "failed" (or "stopped" before start)."""
        return self._state

    @property
    def queue_length(self) -> int:
        return len(self._pending)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        self._spawn()

    def submit(self, job: Job) -> str:
        """Queue a job and return its id; a visitor's job pre-empts a running background job."""
        if job.kind not in JOB_HANDLERS:
            raise TwowayError("worker.unknown_job", kind=job.kind, known=", ".join(JOB_HANDLERS))
        heapq.heappush(self._pending, (int(job.priority), next(self._order), job))
        running = self._running
        if (running is not None and running.priority == Priority.BACKGROUND
                and job.priority < running.priority):
            log.info("job %s (%s) pre-empts background job %s", job.id, job.kind, running.id)
            self._send(("cancel", running.id))
        self._dispatch()
        self._publish()
        return job.id

    def cancel(self, job_id: str) -> None:
        """Cancel a queued or running job; it ends with JobFailed(reason "cancelled")."""
        for position, (_, _, job) in enumerate(self._pending):
            if job.id == job_id:
                self._pending.pop(position)
                heapq.heapify(self._pending)
                self._events.append(JobFailed(job_id, "cancelled"))
                self._publish()
                return
        if self._running is not None and self._running.id == job_id:
            self._cancelled.add(job_id)
            self._send(("cancel", job_id))

    def poll(self) -> list[Event]:
        """Return the events since the last call without waiting for the worker.

        NOTE: a message already arriving (a preview of up to 256 px) is read to
        its end, which takes about a millisecond; a restart spawns a process.
        """
        if self._process is not None:
            self._receive()
            self._check_health()
        if self._state == "restarting" and time.monotonic() >= self._restart_at:
            self._spawn()
        self._dispatch()
        self._publish()
        events, self._events = self._events, []
        return events

    def stop(self, timeout: float | None = None) -> None:
        """Stop the worker, killing it after `timeout` seconds (default worker.stop_timeout_s)."""
        timeout = self.options.stop_timeout_s if timeout is None else timeout
        process = self._process
        if process is not None:
            self._send(("stop",))
            process.join(timeout)
            if process.is_alive():
                log.warning("worker %d did not stop within %.1f s; killing it", process.pid, timeout)
                process.kill()
                process.join(1.0)
            log.info("worker %d stopped (exit code %s)", process.pid, process.exitcode)
        self._close()
        self._state = "stopped"

    # --- the process ------------------------------------------------------------------

    def _spawn(self) -> None:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main, name="twoway-worker", daemon=True,
            args=(theirs, self.settings, str(self.settings.archive_dir())))
        # The allocator and thread settings must be in the environment before the
        # new interpreter starts, so they are set around start() and then restored.
        with _environment_lock:
            saved = {name: os.environ.get(name) for name in worker_environment(self.settings)}
            os.environ.update(worker_environment(self.settings))
            try:
                process.start()
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
        theirs.close()
        self._process, self._connection = process, ours
        self._started_at = time.monotonic()
        self._ready_at = 0.0
        self._state = "starting"
        log.info("worker %d starting", process.pid)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._process = None
        self._connection = None

    def _send(self, message: tuple) -> None:
        if self._connection is None:
            return
        try:
            self._connection.send(message)
        except (BrokenPipeError, ConnectionResetError, OSError) as error:
            # The health check finds the dead worker and restarts it.
            log.warning("could not send %s to the worker: %s", message[0], error)

    def _receive(self) -> None:
        connection = self._connection
        try:
            while connection is not None and connection.poll(0):
                self._handle(connection.recv())
        except (EOFError, OSError) as error:
            log.debug("worker pipe closed: %s", error)

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        now = time.monotonic()
        self._last_heartbeat = now
        if kind == "ready":
            self.device = message[1]
            self._ready_at = now
            self._state = "idle"
            log.info("worker %d ready on %s", self._process.pid, self.device)
        elif kind == "started":
            self._events.append(JobStarted(message[1], message[2]))
        elif kind == "progress":
            self._events.append(JobProgress(*message[1:]))
        elif kind == "done":
            self._finish(message[1])
            self._failures = 0
            self._events.append(JobDone(message[1], message[2]))
        elif kind == "failed":
            self._job_failed(message[1], message[2])

    def _job_failed(self, job_id: str, reason: str) -> None:
        job = self._finish(job_id)
        if reason == PREEMPTED and job is not None and job_id not in self._cancelled:
            # Pre-empted by a more urgent job: run it again later, keeping its id.
            heapq.heappush(self._pending, (int(job.priority), next(self._order), job))
            return
        if job_id in self._cancelled:
            reason = "cancelled"
        self._cancelled.discard(job_id)
        self._events.append(JobFailed(job_id, reason))

    def _finish(self, job_id: str) -> Job | None:
        job = self._running if self._running is not None and self._running.id == job_id else None
        self._running = None
        if self._state == "busy":
            self._state = "idle"
        return job

    def _check_health(self) -> None:
        process = self._process
        now = time.monotonic()
        reason = None
        if process.exitcode is not None:
            reason = _describe_exit(process.exitcode)
        elif self._state == "starting" and now - self._started_at > self.options.start_timeout_s:
            reason = f"not ready after {self.options.start_timeout_s:.0f} s"
        elif self._ready_at and now - self._last_heartbeat > self.options.heartbeat_timeout_s:
            reason = f"no heartbeat for {now - self._last_heartbeat:.1f} s"
        if reason is not None:
            self._restart_later(reason)

    def _restart_later(self, reason: str) -> None:
        process = self._process
        job = self._running
        job_text = job.id if job is not None else "none"
        log.error("worker %d failed (%s) while running job %s; restarting it",
                  process.pid, reason, job_text)
        if process.is_alive():
            process.kill()
            process.join(1.0)
        self._close()

        if job is not None:
            self._running = None
            self._cancelled.discard(job.id)
            self._events.append(JobFailed(job.id, f"worker {reason}"))
        self._events.append(WorkerRestarted(reason))

        # Back off 1, 2, 4, ... times restart_delay_s, unless the worker had been up a while.
        if self._ready_at and time.monotonic() - self._ready_at > STABLE_AFTER_S:
            self._failures = 0
        self._failures += 1
        delay = min(self.options.restart_delay_s * 2 ** (self._failures - 1), self.options.restart_max_delay_s)
        self._restart_at = time.monotonic() + delay
        self._state = "restarting"
        log.info("restarting the worker in %.1f s (failure %d in a row)", delay, self._failures)

    def _dispatch(self) -> None:
        if self._state != "idle" or self._running is not None or not self._pending:
            return
        _, _, job = heapq.heappop(self._pending)
        self._running = job
        self._state = "busy"
        self._send(("run", job))

    def _publish(self) -> None:
        if self.board is not None:
            self.board.update(worker=self._state if self._state != "stopped" else "starting",
                              queue=len(self._pending))


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code == OUT_OF_MEMORY_EXIT:
        return "exited after running out of GPU memory"
    return f"exited with code {code}"


# --- inside the worker process ---------------------------------------------------------------

def worker_main(connection: Connection, settings: Settings, archive_dir: str) -> None:
    """Run jobs sent over `connection` until a stop message arrives; the worker process's entry point."""
    from installation.logs import configure_logging

    configure_logging(settings.general.log_level)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the display process decides when to stop
    worker = _Worker(connection, settings, Path(archive_dir))
    worker.run()
    # Skip the interpreter's teardown of torch, which took seconds; the archive is closed.
    logging.shutdown()
    os._exit(0)


class _Worker:
    def __init__(self, connection: Connection, settings: Settings, archive_dir: Path):
        self.connection = connection
        self.settings = settings
        self.archive_dir = archive_dir
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.send_lock = threading.Lock()
        self.current: str | None = None
        self.cancel_reason: str | None = None
        self.stopping = threading.Event()
        self.disconnected = False

    def send(self, message: tuple) -> None:
        """Send `message` to the display process; once that is gone, drop it and stop after the job."""
        with self.send_lock:
            if self.disconnected:
                return
            try:
                self.connection.send(message)
            except OSError:  # BrokenPipeError and ConnectionResetError among others
                self.disconnected = True
                self.cancel_reason = "cancelled"
                self.jobs.put(None)
                log.warning("worker %d lost its connection while sending; stopping", os.getpid())

    def run(self) -> None:
        threading.Thread(target=self._read_messages, name="worker-reader", daemon=True).start()
        threading.Thread(target=self._beat, name="worker-heartbeat", daemon=True).start()
        # The display loop must win the processor. The lower priority and the idle class are
        # taken by this thread only, after the heartbeat started and before the thread pools
        # of torch and OpenCV exist, so those pools inherit them and the heartbeat does not.
        lower_priority(self.settings.worker.nice)
        if self.settings.worker.idle_scheduling:
            use_idle_time()
        device = self._set_up_torch()
        from installation.archive import Archive

        archive = Archive(self.archive_dir, self.settings.archive)
        self.send(("ready", device))
        log.info("worker %d ready on %s with %d threads", os.getpid(), device, cpu_threads(self.settings))
        try:
            while True:
                job = self.jobs.get()
                if job is None:
                    break
                self._run_job(job, archive, device)
        finally:
            self.stopping.set()
            archive.close()
            log.info("worker %d stopped", os.getpid())

    def _set_up_torch(self) -> str:
        import torch

        from models.registry import resolve_device

        threads = cpu_threads(self.settings)
        torch.set_num_threads(threads)
        # OpenCV (morph frames) and faiss (patch search) keep to the same thread count.
        import cv2

        cv2.setNumThreads(threads)
        try:
            import faiss

            faiss.omp_set_num_threads(threads)
        except ImportError:
            pass
        return resolve_device(self.settings.networks.device)

    def _read_messages(self) -> None:
        while True:
            try:
                message = self.connection.recv()
            except (EOFError, OSError):
                # The display process is gone: finish nothing more.
                log.warning("worker %d lost its connection; stopping", os.getpid())
                self.cancel_reason = "cancelled"
                self.jobs.put(None)
                return
            if message[0] == "run":
                self.jobs.put(message[1])
            elif message[0] == "cancel" and message[1] == self.current:
                self.cancel_reason = PREEMPTED
                if self.current is not None:
                    log.info("job %s asked to stop", self.current)
            elif message[0] == "stop":
                self.cancel_reason = "cancelled"
                self.jobs.put(None)
                return

    def _beat(self) -> None:
        while not self.stopping.wait(self.settings.worker.heartbeat_s) and not self.disconnected:
            self.send(("heartbeat",))

    def _run_job(self, job: Job, archive, device: str) -> None:
        self.current, self.cancel_reason = job.id, None
        self.send(("started", job.id, job.kind))
        log.info("job %s (%s) started with %s", job.id, job.kind, job.params)
        started = time.monotonic()
        context = JobContext(
            job_id=job.id, archive=archive, device=device, settings=self.settings,
            _report=lambda fraction, stage, preview=None: self.send(
                ("progress", job.id, float(fraction), stage, preview)),
            _is_cancelled=lambda: self.cancel_reason is not None)
        try:
            handler = _load_handler(job.kind)
            result = handler(job.params, context)
        except Exception as error:  # noqa: BLE001 - every failure is reported back
            self._report_failure(job, error)
        else:
            log.info("job %s done in %.1f s", job.id, time.monotonic() - started)
            self.send(("done", job.id, result))
        finally:
            self.current = None

    def _report_failure(self, job: Job, error: Exception) -> None:
        from models.base import Cancelled

        if isinstance(error, (Cancelled, JobCancelled)):
            reason = self.cancel_reason or "cancelled"
            log.info("job %s stopped: %s", job.id, reason)
            self.send(("failed", job.id, reason))
            return
        if isinstance(error, TwowayError):
            log.warning("job %s failed: %s", job.id, error)
            self.send(("failed", job.id, str(error)))
            return
        log.exception("job %s (%s) failed", job.id, job.kind)
        self.send(("failed", job.id, f"{type(error).__name__}: {error}"))
        if type(error).__name__ == "OutOfMemoryError":
            # CUDA memory may be left fragmented; a fresh process starts clean.
            os._exit(OUT_OF_MEMORY_EXIT)


def _load_handler(kind: str):
    if kind not in JOB_HANDLERS:
        raise TwowayError("worker.unknown_job", kind=kind, known=", ".join(JOB_HANDLERS))
    module_name, _, function = JOB_HANDLERS[kind].partition(":")
    return getattr(importlib.import_module(module_name), function)
