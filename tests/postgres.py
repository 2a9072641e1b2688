"""A real PostgreSQL server for the tests: the OS package's binaries (installed by
`tests/services/install-postgresql.sh`, which `make test` runs), a throw-away data directory and
a free port on 127.0.0.1, owned and run by an unprivileged user (the server refuses root).

Where the binaries are missing the tests that need the server are skipped with the reason,
except under `CI=true`, where that is a failure: a shared study is never faked with SQLite.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

UNPRIVILEGED = "nobody"  # who runs the server when the tests run as root
DATABASE = "freqai_seq_tests"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Server:
    url: str  # SQLAlchemy URL of the test database (psycopg driver)
    data_dir: Path
    pid: int


def server_binaries() -> Path | None:
    """The folder holding initdb, postgres and pg_ctl: on PATH, or Debian's versioned folder."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                     key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    for folder in reversed(folders):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_owner(command: list[str], owner: pwd.struct_passwd | None) -> list[str]:
    if owner is None:
        return command
    return ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups",
            *command]


def _run(command: list[str], owner: pwd.struct_passwd | None) -> None:
    done = subprocess.run(_as_owner(command, owner), capture_output=True, text=True, check=False,
                          timeout=START_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: "
                           f"{(done.stdout + done.stderr)[-2000:]}")


def missing(reason: str) -> None:
    """Skip with the reason, or fail under CI=true where the server must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    pytest.skip(reason)


def start_server() -> Iterator[Server]:
    """Start a throw-away server, yield it, stop it and delete its data directory."""
    binaries = server_binaries()
    if binaries is None:
        missing("no PostgreSQL server binaries (initdb, pg_ctl): run "
                "tests/services/install-postgresql.sh as root")
    owner = pwd.getpwnam(UNPRIVILEGED) if os.geteuid() == 0 else None
    # Under /tmp itself: pytest's own temp folders are private to the test user.
    data_dir = Path(tempfile.mkdtemp(prefix="freqai-seq-pg-"))
    if owner is not None:
        os.chown(data_dir, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    pg_ctl = str(binaries / "pg_ctl")
    try:
        _run([str(binaries / "initdb"), "-D", str(data_dir / "db"), "-U", "freqai",
              "-A", "trust", "--no-sync", "-E", "UTF8"], owner)
        _run([pg_ctl, "-D", str(data_dir / "db"), "-l", str(data_dir / "server.log"), "-w",
              "-t", str(START_TIMEOUT_S), "-o",
              f"-c listen_addresses=127.0.0.1 -p {port} -k {data_dir} -c fsync=off", "start"],
             owner)
        pid = int((data_dir / "db" / "postmaster.pid").read_text().split()[0])
        _run([str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "freqai",
              DATABASE], owner)
        yield Server(f"postgresql+psycopg://freqai@127.0.0.1:{port}/{DATABASE}", data_dir, pid)
    finally:
        if (data_dir / "db" / "postmaster.pid").exists():
            subprocess.run(_as_owner([pg_ctl, "-D", str(data_dir / "db"), "-m", "fast", "-w",
                                      "stop"], owner), capture_output=True, check=False,
                           timeout=START_TIMEOUT_S)
        deadline = time.monotonic() + START_TIMEOUT_S
        while (data_dir / "db" / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        shutil.rmtree(data_dir, ignore_errors=True)
