"""The worker process: jobs, progress, priorities, and recovery after a kill or a hang.

Each client here spawns real worker processes that import torch, so the tests
share as few starts as they can.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from installation.config import ArchiveSettings, NetworksSettings, Settings, WorkerSettings
from installation.jobs import (Job, JobDone, JobFailed, JobProgress, JobStarted, Priority,
                               WorkerRestarted)
from installation.state import StateBoard
from installation.worker import WorkerClient, worker_environment

WAIT_S = 90.0  # maximum wait for any one event, in seconds; a worker start imports torch


def make_settings(folder) -> Settings:
    return Settings(
        archive=ArchiveSettings(path=str(folder)),
        networks=NetworksSettings(output_side=40, patch_coarsest_side=16, patch_iterations=1,
                                  patch_coarsest_iterations=2),
        worker=WorkerSettings(cpu_threads=1, restart_delay_s=0.1, heartbeat_s=0.2,
                              heartbeat_timeout_s=1.0, start_timeout_s=WAIT_S))


class Recorder:
    """Every event a client returned, and a cursor past the last one waited for."""

    def __init__(self, client):
        self.client = client
        self.events = []
        self.cursor = 0

    def wait_for(self, predicate):
        """Return the first event after the cursor that matches `predicate`, polling as needed."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for position in range(self.cursor, len(self.events)):
                if predicate(self.events[position]):
                    self.cursor = position + 1
                    return self.events[position]
            self.cursor = len(self.events)
            self.events.extend(self.client.poll())
            time.sleep(0.02)
        raise AssertionError(f"no matching event within {WAIT_S} s; got {self.events}")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    from installation.archive import Archive
    from tests.conftest import painting_paths

    folder = tmp_path_factory.mktemp("worker") / "archive"
    with Archive(folder) as archive:
        node = archive.import_photo(painting_paths()[0])
    board = StateBoard()
    client = WorkerClient(make_settings(folder), board)
    client.start()
    yield client, board, node.id, folder
    client.stop()


def test_sleep_job_reports_progress(shared):
    client, board, _, _ = shared
    recorder = Recorder(client)
    job_id = client.submit(Job("sleep", {"seconds": 0.3}, Priority.ARTIST))
    recorder.wait_for(lambda e: isinstance(e, JobDone) and e.job_id == job_id)
    assert any(isinstance(e, JobStarted) and e.job_id == job_id for e in recorder.events)
    assert any(isinstance(e, JobProgress) and e.job_id == job_id for e in recorder.events)
    assert board.snapshot()[0].worker == "idle"


def test_worker_runs_at_lower_priority(shared):
    client, _, _, _ = shared
    recorder = Recorder(client)
    job_id = client.submit(Job("sleep", {"seconds": 0.05}, Priority.ARTIST))
    recorder.wait_for(lambda e: isinstance(e, JobDone) and e.job_id == job_id)
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + client.settings.worker.nice)
    assert os.getpriority(os.PRIO_PROCESS, client.pid) == expected


def test_worker_jobs_idle_heartbeat_normal(shared):
    client, _, _, _ = shared
    recorder = Recorder(client)
    job_id = client.submit(Job("sleep", {"seconds": 0.05}, Priority.ARTIST))
    recorder.wait_for(lambda e: isinstance(e, JobDone) and e.job_id == job_id)
    threads = [thread.id for thread in psutil.Process(client.pid).threads()]
    policies = {thread: os.sched_getscheduler(thread) for thread in threads}
    assert policies[client.pid] == os.SCHED_IDLE  # the main thread runs the jobs
    assert any(policy != os.SCHED_IDLE for policy in policies.values())


def test_generate_job_stores_children(shared):
    from installation.archive import Archive

    client, _, node_id, folder = shared
    recorder = Recorder(client)
    job_id = client.submit(Job("generate", {"node_id": node_id, "count": 2, "seed": 7}, Priority.VISITOR))
    done = recorder.wait_for(lambda e: getattr(e, "job_id", None) == job_id
                    and isinstance(e, (JobDone, JobFailed)))
    assert isinstance(done, JobDone), done
    previews = [e.preview for e in recorder.events if isinstance(e, JobProgress) and e.preview is not None]
    assert previews
    with Archive(folder) as archive:
        children = [archive.node(child) for child in done.result["node_ids"]]
    assert len(children) == 2
    assert all(child.parents == (node_id,) for child in children)
    assert [child.provenance["seed"] for child in children] == [7, 8]
    assert all(child.provenance["network"] == "patches" for child in children)


def test_generate_unknown_node_fails(shared):
    client, _, _, _ = shared
    recorder = Recorder(client)
    job_id = client.submit(Job("generate", {"node_id": 999_999}, Priority.VISITOR))
    failed = recorder.wait_for(lambda e: getattr(e, "job_id", None) == job_id
                      and isinstance(e, (JobDone, JobFailed)))
    assert isinstance(failed, JobFailed)
    assert "999999" in failed.reason


def test_visitor_preempts_background(shared):
    client, _, _, _ = shared
    recorder = Recorder(client)
    background = client.submit(Job("sleep", {"seconds": 60}, Priority.BACKGROUND))
    recorder.wait_for(lambda e: isinstance(e, JobStarted) and e.job_id == background)
    visitor = client.submit(Job("sleep", {"seconds": 0.1}, Priority.VISITOR))
    recorder.wait_for(lambda e: isinstance(e, JobDone) and e.job_id == visitor)
    restarted = recorder.wait_for(lambda e: isinstance(e, JobStarted) and e.job_id == background)
    assert restarted.job_id == background
    assert not any(isinstance(e, JobFailed) and e.job_id == background for e in recorder.events)

    client.cancel(background)
    cancelled = recorder.wait_for(lambda e: isinstance(e, JobFailed) and e.job_id == background)
    assert cancelled.reason == "cancelled"


def test_cancel_queued_job(shared):
    client, _, _, _ = shared
    recorder = Recorder(client)
    running = client.submit(Job("sleep", {"seconds": 0.5}, Priority.ARTIST))
    queued = client.submit(Job("sleep", {"seconds": 0.5}, Priority.ARTIST))
    assert client.queue_length == 1
    client.cancel(queued)
    failed = recorder.wait_for(lambda e: isinstance(e, JobFailed) and e.job_id == queued)
    assert failed.reason == "cancelled"
    recorder.wait_for(lambda e: isinstance(e, JobDone) and e.job_id == running)


def test_unknown_kind_rejected(shared):
    from installation.texts import TwowayError

    client, _, _, _ = shared
    with pytest.raises(TwowayError):
        client.submit(Job("paint", {}, Priority.ARTIST))


@pytest.mark.parametrize("signal_number, reason", [
    (signal.SIGKILL, "killed by SIGKILL"),
    (signal.SIGSTOP, "no heartbeat"),
])
def test_worker_recovers_mid_job(tmp_path, signal_number, reason):
    client = WorkerClient(make_settings(tmp_path / "archive"))
    client.start()
    try:
        recorder = Recorder(client)
        job_id = client.submit(Job("sleep", {"seconds": 60}, Priority.ARTIST))
        recorder.wait_for(lambda e: isinstance(e, JobStarted))
        first_pid = client.pid
        os.kill(first_pid, signal_number)

        failed = recorder.wait_for(lambda e: isinstance(e, JobFailed))
        restarted = recorder.wait_for(lambda e: isinstance(e, WorkerRestarted))
        assert failed.job_id == job_id
        assert reason in failed.reason
        assert reason in restarted.reason
        assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == psutil.STATUS_ZOMBIE

        after = client.submit(Job("sleep", {"seconds": 0.1}, Priority.VISITOR))
        recorder.wait_for(lambda e: isinstance(e, JobDone) and e.job_id == after)
        assert client.pid != first_pid
    finally:
        client.stop()


# A display process that starts a job on its worker, prints the worker's pid and dies.
DYING_DISPLAY = """
import os, signal, sys, time
from installation.jobs import Job, JobStarted, Priority
from installation.worker import WorkerClient
from tests.test_worker import make_settings

client = WorkerClient(make_settings(sys.argv[1]))
client.start()
client.submit(Job("sleep", {"seconds": 30}, Priority.ARTIST))
deadline = time.monotonic() + 90
while time.monotonic() < deadline and not any(isinstance(e, JobStarted) for e in client.poll()):
    time.sleep(0.05)
print("worker pid", client.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_worker_outliving_display_stops_quietly(tmp_path):
    # The worker inherits the dying display's standard error, so run() returns once it has exited too.
    result = subprocess.run([sys.executable, "-c", DYING_DISPLAY, str(tmp_path / "archive")],
                            cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
                            timeout=WAIT_S)
    worker_pid = int(re.search(r"worker pid (\d+)", result.stdout).group(1))
    assert result.returncode == -signal.SIGKILL
    assert not psutil.pid_exists(worker_pid) or psutil.Process(worker_pid).status() == psutil.STATUS_ZOMBIE
    output = result.stdout + result.stderr
    assert "lost its connection" in output
    assert "Traceback" not in output


def test_stop_leaves_no_process(tmp_path):
    client = WorkerClient(make_settings(tmp_path / "archive"))
    client.start()
    pid = client.pid
    client.stop()
    assert not psutil.pid_exists(pid)
    assert client.state == "stopped"


def test_environment_bounds_allocator():
    environment = worker_environment(make_settings("archive"))
    assert environment["MALLOC_MMAP_THRESHOLD_"] == str(32 * 1024 * 1024)
    assert environment["MALLOC_TRIM_THRESHOLD_"] == str(64 * 1024 * 1024)
    assert environment["OMP_NUM_THREADS"] == "1"
