"""docker-compose.yml: its structure always (plain YAML), `docker compose config` where a docker
client with the compose plugin exists. No test builds or runs the image."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from freqai_seq.cli.parser import build_parser
from freqai_seq.runs.runner import BacktestRequest
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"backtest", "validate", "dryrun"}
MOUNTED = {"user_data", "freqai_models", "strategies", "config.json"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _dockerfile(service: dict) -> Path:
    build = service["build"]
    return ROOT / build["context"] / build["dockerfile"]


def _image_inside(path: str) -> str:
    """What a COPY source or a script named by the compose file is in the repository."""
    return path.removeprefix("/freqai-seq/")


def test_services_build_on_freqtrades_torch_image() -> None:
    services = _compose()["services"]
    assert set(services) >= SERVICES
    for name in SERVICES:
        service = services[name]
        dockerfile = _dockerfile(service)
        assert dockerfile.is_file(), dockerfile
        assert (ROOT / service["build"]["context"]).resolve() == ROOT
        text = dockerfile.read_text()
        default = re.search(r"^ARG FREQTRADE_IMAGE=(\S+)$", text, re.MULTILINE)
        assert default and default.group(1) == "freqtradeorg/freqtrade:stable_freqaitorch"
        assert service["build"]["args"]["FREQTRADE_IMAGE"] == default.group(1)
        assert re.search(r"^FROM \$\{FREQTRADE_IMAGE\}$", text, re.MULTILINE)
        assert "pip install --user --no-cache-dir /tmp/dist/freqai_seq-*.whl" in text  # the wheel
        for line in re.findall(r"^COPY (.+)$", text, re.MULTILINE):
            *sources, _target = line.split()
            for source in sources:
                assert (ROOT / source).exists(), f"{dockerfile}: COPY {source}"


def test_mounts_come_from_the_repository() -> None:
    services = _compose()["services"]
    for name in SERVICES:
        service = services[name]
        workdir = service["working_dir"]
        targets = {}
        for volume in service["volumes"]:
            source, target, *mode = volume.split(":")
            assert source.startswith("./") and (ROOT / source).exists(), f"{name}: {volume}"
            assert target == f"{workdir}/{source[2:]}", f"{name}: {volume}"
            targets[source[2:]] = mode
        assert set(targets) >= MOUNTED, f"{name} lacks mounts {MOUNTED - set(targets)}"
        assert targets["user_data"] == [], "user_data must be writable"


def test_commands_are_valid_freqai_seq_commands() -> None:
    services = _compose()["services"]
    dockerfile = _dockerfile(services["backtest"]).read_text()
    entrypoint = re.search(r'^ENTRYPOINT \["([^"]+)"\]$', dockerfile, re.MULTILINE)
    assert entrypoint
    parser = build_parser()
    parsed = {}
    for name in SERVICES:
        service = services[name]
        script = ROOT / _image_inside(service.get("entrypoint", [entrypoint.group(1)])[0])
        assert script.is_file() and os.access(script, os.X_OK), script
        body = script.read_text()
        # the scripts hand the service's command to `freqai-seq` or `freqai-seq dryrun start`
        prefix = ["dryrun", "start"] if 'freqai-seq dryrun start "$@"' in body else []
        assert prefix or 'exec freqai-seq "$@"' in body, script
        argv = [*prefix, *service["command"]]
        parsed[name] = parser.parse_args(argv)  # exits (SystemExit) on a bad option
        for token in service["command"]:  # files the command names are in the repository
            if token.endswith(".json"):
                assert (ROOT / token).is_file(), f"{name}: {token}"
    assert parsed["backtest"].command == "backtest" and parsed["backtest"].validate
    assert parsed["dryrun"].command == "dryrun"
    # validate reads the backtest service's export
    bt = parsed["backtest"]
    identifier = BacktestRequest(
        configs=None, strategy=bt.strategy, model=bt.model, timerange=bt.timerange,
        identifier=bt.identifier, datadir=bt.datadir, userdir=bt.userdir, host=bt.host,
        port=bt.port, state_file=bt.state_file, log_file=bt.market_log).run_identifier
    assert parsed["validate"].models == Path("user_data/models") / identifier


def test_the_build_context_leaves_generated_files_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "user_data", ".git"} <= set(ignored)


def _compose_plugin() -> str | None:
    """Why `docker compose` cannot be used here, or None when it can."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True,
                           check=False)
    if probe.returncode != 0:
        answer = (probe.stderr or probe.stdout).strip().splitlines()
        return ("the docker client has no compose plugin (`docker compose version`: "
                f"{answer[0] if answer else probe.returncode})")
    return None


@pytest.mark.skipif(_compose_plugin() is not None, reason=str(_compose_plugin()))
def test_docker_compose_config_accepts_the_file() -> None:
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, shlex.join(result.args) + "\n" + result.stderr
