"""`--cluster` refuses, within seconds and in one line, an address that is malformed, closed or
served by something other than a Dask scheduler (distributed alone would wait 30 s, or for ever
on a web server). Real sockets on 127.0.0.1, in-process CLI."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from freqai_seq.cli.main import main

FEW_SECONDS = 15  # the check gives up after 6 s; the rest is margin on a loaded machine


@pytest.fixture(scope="module", autouse=True)
def _loaded() -> None:
    """What the command imports on its first call (Dask's client side among it: seconds on a
    busy machine), loaded before any clock starts: the limit is on the check's waiting."""
    main(["backtest", "--cluster", "notanaddress", "--timerange", "20190801-20190808"])


@pytest.fixture
def web_server() -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1: it accepts the connection but never answers Dask."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


def _refusal(address: str, caplog: pytest.LogCaptureFixture) -> str:
    """The one error line of `backtest --cluster address`, checked to come within seconds."""
    began = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="freqai_seq"):
        code = main(["backtest", "--cluster", address, "--timerange", "20190801-20190808"])
    assert time.monotonic() - began < FEW_SECONDS
    assert code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    return errors[0]


def test_a_malformed_address_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    line = _refusal("notanaddress", caplog)
    assert line.startswith("--cluster 'notanaddress' is not a Dask scheduler address"), line


def test_a_closed_port_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    address = _closed_port()
    assert _refusal(address, caplog).startswith(f"No Dask scheduler answers at {address}")


def test_a_web_server_is_refused(web_server: str, caplog: pytest.LogCaptureFixture) -> None:
    line = _refusal(web_server, caplog)
    assert line.startswith(f"{web_server} did not answer as a Dask scheduler"), line
