"""Processes this package starts, recognised by pid and start time, and stopped only when ours.

A state file outlives the process it names when that process is killed, and the kernel hands its
pid to some later process: a pid alone would make `stop` signal a stranger. A pid with the
process's start time names one process only, so every check of "is our process still running"
and every signal this package sends goes through here.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass

import psutil

logger = logging.getLogger(__name__)

# psutil gives the start time in epoch seconds: the kernel's start tick plus its boot time, which
# it reports in whole seconds and moves with clock adjustments. A reused pid starts later than
# that: the kernel hands out every other free pid first.
CREATE_TIME_TOLERANCE_S = 1.0
KILL_WAIT_S = 5.0
POLL_S = 0.05
PR_SET_PDEATHSIG = 1  # prctl option: the signal a child gets when its parent dies


@dataclass(frozen=True)
class ProcessRecord:
    """A process we started, as recorded in a state file."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        """The record of a process we have just started (or of this process)."""
        return cls(pid, psutil.Process(pid).create_time())

    @classmethod
    def current(cls) -> ProcessRecord:
        return cls.of(os.getpid())


def recorded(pid: int | None, create_time: float | None) -> ProcessRecord | None:
    """The record a state file holds; None without a start time (a file written by an older
    version), which can never be verified and so never names a process of ours."""
    return None if pid is None or create_time is None else ProcessRecord(pid, create_time)


def _process(record: ProcessRecord | None) -> psutil.Process | None:
    """The live process the record names; None when it is gone, a zombie, or the pid now
    belongs to another process, or when there is no record."""
    if record is None:
        return None
    try:
        proc = psutil.Process(record.pid)
        if (abs(proc.create_time() - record.create_time) > CREATE_TIME_TOLERANCE_S
                or proc.status() == psutil.STATUS_ZOMBIE):
            return None
    except psutil.Error:  # NoSuchProcess, ZombieProcess, AccessDenied: not ours to touch
        return None
    return proc


def is_running(record: ProcessRecord | None) -> bool:
    """Whether the recorded process still runs (the same process, not one that got its pid)."""
    return _process(record) is not None


def wrote_and_gone(pid: int, written_at: float) -> bool:
    """Whether the process that wrote a file named by its pid (at `written_at`, the file's
    modification time) is gone: no process has that pid, or the one that has it started after
    the file was written (the kernel reused the pid). False when that cannot be told."""
    try:
        proc = psutil.Process(pid)
        return (proc.create_time() > written_at + CREATE_TIME_TOLERANCE_S
                or proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:  # ZombieProcess included
        return True
    except psutil.Error:  # AccessDenied: perhaps still running
        return False


def stop(record: ProcessRecord | None, timeout_s: float) -> bool:
    """SIGTERM the recorded process, SIGKILL it after `timeout_s`; False, and no signal sent,
    when it no longer runs. A child of ours is reaped, so it does not linger as a zombie."""
    proc = _process(record)
    if record is None or proc is None:
        return False
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.terminate()  # psutil re-checks the start time before signalling
    if not _wait_gone(record, timeout_s):
        logger.warning("Process %d ignored SIGTERM for %.0fs; killing it", record.pid, timeout_s)
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
        _wait_gone(record, KILL_WAIT_S)
    return True


def _wait_gone(record: ProcessRecord, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_running(record):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    with contextlib.suppress(ChildProcessError):  # not our child: its parent reaps it
        os.waitpid(record.pid, os.WNOHANG)
    return True


def listens_on(record: ProcessRecord | None, port: int) -> bool:
    """Whether the recorded process, or a process it started, holds a listening socket on
    `port`: then nothing else can listen there, and what answers on the port is ours."""
    proc = _process(record)
    if proc is None:
        return False
    with contextlib.suppress(psutil.Error):
        for member in (proc, *proc.children(recursive=True)):
            with contextlib.suppress(psutil.Error):  # a child may exit meanwhile
                if any(conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
                       for conn in member.net_connections(kind="inet")):
                    return True
    return False


def die_with_parent() -> None:
    """For `subprocess.Popen(preexec_fn=...)`: the child gets SIGTERM when the process that
    started it dies, even by kill -9, so a killed command leaves no freqtrade run behind
    (Linux's PR_SET_PDEATHSIG; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def unwind_on_sigterm() -> None:
    """SIGTERM (kill, CI cancelling a job, a driver stopping its worker) unwinds like Ctrl-C,
    so the processes this one started are stopped by their context managers instead of
    outliving it."""
    import signal

    signal.signal(signal.SIGTERM, _interrupt)
