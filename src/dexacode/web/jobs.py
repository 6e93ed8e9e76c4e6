"""Batch jobs: an uploaded file scrubbed in the background, its progress and summary kept.

Each job runs ``dexacode.batch.scrub`` in a child process started with ``spawn`` (a fresh
interpreter, never a fork of the threaded server), so a large file neither holds the
server's interpreter lock nor inherits its locks; the child reports progress through a
shared counter and leaves its summary as JSON beside the results. Jobs run one at a time,
in upload order; a file of 1 MiB or more uses every core, as ``dexacode scrub`` does.

The child is not daemonic (a daemonic process may not start the scrub's worker pool): it
leads a process group of its own with its pool, and the server ends that group when it
shuts down (``JobRunner.close``, also at the interpreter's exit).
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import multiprocessing as mp
import multiprocessing.util  # its exit hook (join children) is registered before ours
import os
import queue
import shutil
import signal
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dexacode.batch import ScrubOptions

__all__ = ["Job", "JobRunner", "JobState"]

log = logging.getLogger("dexacode.web")

JobState = Literal["queued", "running", "done", "failed"]
_SMALL_FILE = 1024 * 1024  # below this a worker pool costs more than it saves
_POLL = 0.1
_GRACE = 5.0  # seconds a job's processes get to end after SIGTERM, before SIGKILL
_PACKAGE = Path(__file__).resolve().parents[1]  # src/dexacode


@dataclass
class Job:
    id: str
    owner: str  # the API key name that uploaded it
    input_path: Path
    output_path: Path
    errors_path: Path
    input_format: str
    output_format: str
    total: int  # progress units: bytes of a text file, rows of a Parquet file
    created_at: dt.datetime
    input_sha256: str = ""
    upload_name: str = ""  # the file's name as uploaded (the server saves it as input.*)
    state: JobState = "queued"
    done: int = 0
    summary: dict[str, Any] | None = None
    error: str | None = None
    finished_at: dt.datetime | None = None
    _counter: Any = field(default=None, repr=False)

    @property
    def progress(self) -> float:
        if self.state == "done":
            return 1.0
        return min(1.0, self.done / self.total) if self.total else 0.0

    def refresh(self) -> None:
        if self._counter is not None and self.state == "running":
            self.done = int(self._counter.value)


def _run_scrub(
    job_dir: str,
    input_path: str,
    output_path: str,
    errors_path: str,
    options: ScrubOptions,
    counter: Any,
) -> None:
    """The child process: scrub, then write summary.json (or the reason it could not)."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # a group of its own with its worker pool: the server ends them together
    from dexacode.batch import BatchInputError, scrub
    from dexacode.rulebook import RuleBookError

    def advance(step: int) -> None:
        counter.value += step

    out: dict[str, Any]
    try:
        s = scrub(Path(input_path), Path(output_path), Path(errors_path), options, advance)
        out = {
            "rows_read": s.rows_read,
            "coded": s.results,
            "not_coded": s.bad_rows,
            "blank_lines": s.blank_lines,
            "recorded": s.recorded,
            "record_problem": s.record_problem,
            "reconciles": s.reconciles,
            "clean": s.clean,
            "with_errors": s.with_errors,
            "warnings_only": s.with_warnings,
            "rechecked_repeat_visits": s.recoded,
            "finding_counts": dict(s.finding_counts.most_common()),
            "top_problems": s.top_problems(),
            "errors_file": s.errors_path is not None and s.errors_path.exists(),
        }
    except BatchInputError as exc:
        out = {"error": str(exc)}
    except RuleBookError:
        out = {"error": "dexacode's rule book could not be loaded; ask your administrator"}
    except Exception as exc:  # the message may quote a row: only the type is kept
        out = {
            "error": f"internal error ({type(exc).__name__}); please report it",
            "internal": {"type": type(exc).__name__, "frames": _own_frames(exc)},
        }
    Path(job_dir, "summary.json").write_text(json.dumps(out), encoding="utf-8")


def _own_frames(exc: BaseException) -> list[str]:
    """Where ``exc`` was raised, as "dexacode/batch.py:123 in scrub" for each of
    dexacode's own frames: file, line and function, never a value or a message (the
    server's log must not hold patient data)."""
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(_PACKAGE):
            where = path.relative_to(_PACKAGE.parent).as_posix()
            frames.append(f"{where}:{frame.lineno} in {frame.name}")
    return frames


class JobRunner:
    """Queues jobs and runs them one at a time on a background thread."""

    def __init__(
        self,
        root: Path,
        options: ScrubOptions,
        on_finish: Callable[[Job], None] | None = None,
    ) -> None:
        self.root = root
        self.options = options
        self.on_finish = on_finish
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._ctx = mp.get_context("spawn")
        self._current: Any = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dexacode-jobs", daemon=True)
        self._thread.start()
        # A server that exits without close() must not wait for a job to finish (the
        # interpreter joins children that are not daemonic): end it first.
        atexit.register(self._end_current)

    def new_dir(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        path = self.root / job_id
        path.mkdir(parents=True)
        return job_id, path

    def discard(self, job_id: str) -> None:
        """Forget a job that was never submitted, and its folder."""
        self._jobs.pop(job_id, None)
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    def submit(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._queue.put(job)

    def get(self, job_id: str, owner: str) -> Job | None:
        """The job, if it exists and ``owner`` uploaded it (others see nothing)."""
        job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            return None
        job.refresh()
        return job

    def close(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._end_current()
        self._thread.join(timeout=10)
        atexit.unregister(self._end_current)
        shutil.rmtree(self.root, ignore_errors=True)

    def _end_current(self) -> None:
        """End the running job's process and its worker pool (its process group)."""
        self._stopping.set()
        current = self._current
        if current is None or not current.is_alive():
            return
        _signal_group(current, signal.SIGTERM)
        current.join(_GRACE)
        if current.is_alive():
            _signal_group(current, signal.SIGKILL)
            current.join(_GRACE)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._stopping.is_set():
                return
            try:
                self._run(job)
            except Exception as exc:  # the next jobs must still run
                self._current = None
                log.error(
                    "job %s could not be run (%s)\n  %s",
                    job.id,
                    type(exc).__name__,
                    "\n  ".join(_own_frames(exc)),
                )
                job.state = "failed"
                job.error = f"internal error ({type(exc).__name__}); please report it"
                job.finished_at = dt.datetime.now(dt.UTC)

    def _run(self, job: Job) -> None:
        counter = self._ctx.RawValue("q", 0)
        options = ScrubOptions(
            input_format=job.input_format,
            output_format=job.output_format,
            db_url=self.options.db_url,
            use_store=self.options.use_store,
            record=self.options.record,
            payer_dirs=self.options.payer_dirs,
            workers=1 if job.input_path.stat().st_size < _SMALL_FILE else self.options.workers,
        )
        job._counter = counter
        job.state = "running"
        process = self._ctx.Process(
            target=_run_scrub,
            args=(
                str(job.input_path.parent),
                str(job.input_path),
                str(job.output_path),
                str(job.errors_path),
                options,
                counter,
            ),
            name=f"dexacode-job-{job.id[:8]}",
            daemon=False,  # a daemonic process may not start the scrub's worker pool
        )
        self._current = process
        process.start()
        while process.is_alive():
            process.join(_POLL)
            job.done = int(counter.value)
            if self._stopping.is_set():  # close() came as the process was starting
                self._end_current()
        self._current = None
        job.done = int(counter.value)
        summary_path = job.input_path.parent / "summary.json"
        if summary_path.exists():
            found = json.loads(summary_path.read_text(encoding="utf-8"))
            if "internal" in found:
                internal = found["internal"]
                log.error(
                    "job %s: internal error (%s)\n  %s",
                    job.id,
                    internal.get("type", "?"),
                    "\n  ".join(internal.get("frames", [])),
                )
            if "error" in found:
                # The scrub names the file it read, the server's copy: say the user's name.
                error = str(found["error"]).replace(
                    job.input_path.name, job.upload_name or "the uploaded file"
                )
                job.state, job.error = "failed", error
            else:
                job.state, job.summary = "done", found
        else:
            job.state = "failed"
            job.error = (
                "the scrub stopped before it finished (the server was shutting down)"
                if self._stopping.is_set()
                else f"the scrub stopped unexpectedly (exit status {process.exitcode})"
            )
        job.finished_at = dt.datetime.now(dt.UTC)
        if self.on_finish is not None:
            try:
                self.on_finish(job)
            except Exception as exc:  # the job has run; a lost audit row must not hide it
                log.error("could not record the end of job %s (%s)", job.id, type(exc).__name__)


def _signal_group(process: Any, signum: int) -> None:
    """Signal the job's process group (the process and its worker pool); the process
    alone if it has not made its group yet."""
    try:
        os.killpg(process.pid, signum)
    except (AttributeError, ProcessLookupError, PermissionError):
        if signum == signal.SIGTERM:
            process.terminate()
        else:
            process.kill()
