"""`freqai-seq dryrun`: a real `freqtrade trade --dry-run` with FreqAI against the replay market,
started, trained, reached through its REST API and stopped."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("dryrun")]


def _status(url: str, auth: tuple[str, str] | None) -> int:
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def test_dryrun_starts_trains_serves_its_api_and_stops(tmp_path: Path, datadir: Path) -> None:
    userdir = tmp_path / "user_data"
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"window": 12, "hidden_size": 16, "epochs": 2}))
    port = free_port()
    started = run_cli("dryrun", "start", "--pairs", "BTC/USD", "--training-params", str(params),
                      "--userdir", str(userdir), "--datadir", str(datadir), "--api-port", str(port))
    assert started.returncode == 0, started.stderr[-3000:]
    folder = userdir / "dryrun"
    try:
        credentials = json.loads((folder / "dryrun.local.json").read_text())["api_server"]
        assert credentials["password"] not in started.stdout + started.stderr  # never printed
        log = folder / "bot.log"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if log.exists() and "Done training BTC/USD" in log.read_text():
                break
            time.sleep(0.5)
        text = log.read_text()
        assert "Done training BTC/USD" in text, text[-3000:]
        assert " - ERROR - " not in text
        models = userdir / "models" / "dryrun-pytorchlstmregressor-replay-201908010000"
        assert list(models.glob("sub-train-BTC_*/*_model.zip"))  # FreqAI saved it
        api = f"http://127.0.0.1:{port}/api/v1/status"
        assert _status(api, (credentials["username"], credentials["password"])) == 200
        assert _status(api, None) == 401
        assert run_cli("dryrun", "status", "--userdir", str(userdir)).returncode == 0
        second = run_cli("dryrun", "start", "--userdir", str(userdir))
        assert second.returncode == 2 and "already runs" in second.stderr
    finally:
        stopped = run_cli("dryrun", "stop", "--userdir", str(userdir))
    assert stopped.returncode == 0 and "Stopped" in stopped.stdout
    assert run_cli("dryrun", "status", "--userdir", str(userdir)).returncode == 1
    assert _status(api, None) == 0  # nothing listens any more
    assert not (folder / "market.json").exists()
