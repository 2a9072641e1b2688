"""The batches of a spread walk-forward on a Dask cluster (`freqai-seq backtest --cluster`).

Dask (the `distributed` scheduler) rather than Ray: it is started the way its users start it
(`dask scheduler`, `dask worker ADDRESS`), is pure Python with no object store or dashboard
to run, and a batch here is one plain function call whose argument and result are bytes.

No shared filesystem: each batch travels as a tar archive (its description, the run's config
without credentials, the strategy and model files, the candles of its pairs), the worker runs
it in a temporary folder (freqai_seq.runs.walkforward.worker) with a market of its own,
and what it wrote travels back the same way. Each worker needs freqai-seq installed, as the
driver has it. Ctrl-C cancels the batches: a running one is stopped by its worker, which
watches a Dask event.
"""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from freqai_seq.errors import FreqaiSeqError
from freqai_seq.redaction import masked
from freqai_seq.runs.run_config import RunInputs
from freqai_seq.runs.runner import BacktestRequest
from freqai_seq.runs.walkforward.plan import OUTCOME_FILE, WORKER_MODULE, Batch, Outcome
from freqai_seq.runs.walkforward.workdir import prepare_workdir

logger = logging.getLogger(__name__)

# A scheduler answers its handshake well within this, even across a WAN.
CONNECT_TIMEOUT_S = 5


def pack(folder: Path, leave_out: tuple[str, ...] = ()) -> bytes:
    """`folder` as a gzipped tar archive, without the top-level entries named in `leave_out`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in sorted(folder.iterdir()):
            if entry.name not in leave_out:
                tar.add(entry, arcname=entry.name)
    return buffer.getvalue()


def unpack(archive: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


def run_remote_batch(archive: bytes, stop_event: str) -> bytes:
    """On a Dask worker: unpack the batch, run it in a worker process, pack what it wrote. The
    batch is stopped when the driver sets the Dask event `stop_event` (Ctrl-C)."""
    from distributed import Event

    stop = Event(stop_event)
    with tempfile.TemporaryDirectory(prefix="freqai-seq-batch-") as tmp:
        workdir = Path(tmp)
        unpack(archive, workdir)
        with (workdir / "worker.log").open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", WORKER_MODULE, "batch", str(workdir)], stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                while proc.poll() is None:
                    if stop.wait(timeout=0.5):
                        proc.terminate()
                        proc.wait()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return pack(workdir, leave_out=("data", "market.json", "market.log"))


def ship_candles(workdir: Path, inputs: RunInputs, datadir: Path) -> None:
    """The candle files of the batch's pairs and the correlated pairs, every timeframe."""
    import shutil

    from freqtrade.misc import pair_to_filename

    target = workdir / "data"
    target.mkdir(parents=True, exist_ok=True)
    for pair in {*inputs.pairs, *inputs.corr_pairs}:
        for file in datadir.glob(f"{pair_to_filename(pair)}-*"):
            shutil.copy2(file, target / file.name)


def check_scheduler(address: str) -> None:
    """Refuse, within seconds, an address that is malformed, unreachable or not a Dask scheduler:
    distributed's Client retries a refused connection for its whole timeout and waits for ever
    for the handshake of a server that is not Dask's (a web server, the dashboard's port)."""
    import asyncio

    from distributed.comm import connect
    from distributed.security import Security

    async def handshake() -> None:
        comm = await connect(address, timeout=CONNECT_TIMEOUT_S,
                             **Security().get_connection_args("client"))
        await comm.close()

    shown = masked(address)
    try:
        asyncio.run(asyncio.wait_for(handshake(), CONNECT_TIMEOUT_S + 1))
    except ValueError as err:  # distributed's reading of the address
        raise FreqaiSeqError(f"--cluster {shown!r} is not a Dask scheduler address ({err}): give "
                             "the one `dask scheduler` prints, e.g. tcp://10.0.0.5:8786.") from err
    except TimeoutError as err:  # a Dask comm timeout is a plain OSError; this one is ours
        raise FreqaiSeqError(f"{shown} did not answer as a Dask scheduler within "
                             f"{CONNECT_TIMEOUT_S + 1} s: give the scheduler's address (`dask "
                             "scheduler` prints it), not its dashboard's.") from err
    except OSError as err:
        # The last attempt's error; Dask's prefix names its connector object.
        reason = re.sub(r"^in <[^>]*>: ", "", str(err.__cause__ or "")) or str(err)
        raise FreqaiSeqError(f"No Dask scheduler answers at {shown} ({reason}): start one with "
                             "`dask scheduler`, or check the address and its port.") from err
    except Exception as err:  # something answered, but Dask cannot read it as a handshake
        raise FreqaiSeqError(f"{shown} did not answer as a Dask scheduler (its reply is no Dask "
                             "handshake): give the address `dask scheduler` prints.") from err


def _connect(address: str) -> Any:
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S)
    except OSError as err:
        raise FreqaiSeqError(f"No Dask scheduler answers at {masked(address)}: {err}") from err


def cluster_slots(address: str) -> int:
    """The worker threads the cluster has now: one batch each by default."""
    with _connect(address) as client:
        slots = sum(client.nthreads().values())
    if not slots:
        raise FreqaiSeqError(f"The Dask scheduler at {address} has no worker: start some with "
                             f"`dask worker {address} --nthreads 1`.")
    return slots


def run_on_cluster(address: str, batches: list[Batch], inputs: RunInputs,
                   request: BacktestRequest, staging: Path) -> list[Outcome]:
    """Every batch as a task on the scheduler at `address`; what each wrote lands in
    `staging/batch-<i>` as a local batch's would."""
    from distributed import Event

    with _connect(address) as client:
        stop_name = f"freqai-seq-stop-{request.run_identifier}-{time.time_ns()}"
        stop = Event(stop_name, client=client)
        futures = []
        for i, batch in enumerate(batches):
            workdir = staging / f"batch-{i}"
            prepare_workdir(workdir, batch, inputs, request.userdir)
            ship_candles(workdir, inputs, request.datadir)
            futures.append(client.submit(run_remote_batch, pack(workdir), stop_name,
                                         key=f"{stop_name}-batch-{i}", pure=False, retries=0))
        outcomes: list[Outcome] = []
        try:
            for i, future in enumerate(futures):
                workdir = staging / f"batch-{i}"
                try:
                    unpack(future.result(), workdir)
                except Exception as err:  # the worker died, or the task raised
                    logger.error("Walk-forward batch %d on %s: %s: %s", i, address,
                                 type(err).__name__, err)
                outcome = workdir / OUTCOME_FILE
                outcomes.append(Outcome.read(outcome) if outcome.is_file() else Outcome(
                    1, 0, f"the batch did not come back from the cluster at {address}"))
        except BaseException:
            stop.set()
            client.cancel(futures)
            raise
        return outcomes
