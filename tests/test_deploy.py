"""The deployment files are checked here, without a Docker engine:

- deploy/compose.yaml validates against the Compose specification (check-jsonschema's vendored
  schema; also `docker compose config` where the plugin is installed);
- every container command is a real `jarvis` subcommand whose flags parse with Jarvis's own parser;
- only the hub and the web app are published to the LAN; the GPU profile reserves the NVIDIA device;
- the Dockerfiles pass hadolint, run as a non-root user, and carry no build tools in the final stage;
- the Raspberry Pi unit passes `systemd-analyze verify`, and its command parses.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from jarvis.protocol.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
JARVIS_IMAGES = ("${JARVIS_IMAGE:-jarvis:latest}", "${JARVIS_CUDA_IMAGE:-jarvis:cuda}")


def _defaults(value: str) -> str:
    """Resolve ${VAR:-default} the way compose does when VAR is unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _jarvis_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if svc.get("image") in JARVIS_IMAGES}


def _parse_jarvis(argv: list[str]) -> Any:
    argv = [_defaults(a) for a in argv]
    try:
        return build_parser(argv).parse_args(argv)
    except SystemExit as err:  # argparse exits on an unknown flag or subcommand
        raise AssertionError(f"`jarvis {' '.join(argv)}` does not parse") from err


def test_compose_validates_against_the_compose_spec() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
    if shutil.which("docker")
    else True,
    reason="the docker compose plugin is not installed here (the schema check above still runs)",
)
def test_docker_compose_config() -> None:
    for profile in ("cpu", "gpu"):
        result = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE), "--profile", profile, "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr


def test_every_container_command_is_a_real_jarvis_subcommand(compose: dict[str, Any]) -> None:
    services = _jarvis_services(compose)
    assert {"stt", "tts", "brain", "hub", "web", "advertise"} <= set(services)
    for name, svc in services.items():
        args = _parse_jarvis(list(svc["command"]))
        assert args.command == svc["command"][0], name
        for probe in svc.get("healthcheck", {}).get("test", [])[2:3]:
            _parse_jarvis(["probe", probe])


def test_only_hub_and_web_are_published_to_the_lan(compose: dict[str, Any]) -> None:
    lan = set()
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            parts = _defaults(str(port)).split(":")
            if len(parts) == 2 or parts[0] in ("0.0.0.0", ""):
                lan.add((name, parts[-1]))
            else:
                assert parts[0] == "127.0.0.1", f"{name} publishes {port} beyond loopback by default"
    assert lan == {("hub", "10600"), ("web", "8443")}


def test_services_share_the_private_network_volumes_and_restart_policy(compose: dict[str, Any]) -> None:
    assert "jarvis-net" in compose["networks"]
    assert {"data", "models", "certs", "ollama"} <= set(compose["volumes"])
    for name, svc in compose["services"].items():
        assert svc.get("restart") == "unless-stopped", name
        if name == "advertise":
            assert svc["network_mode"] == "host"
            continue
        networks = svc.get("networks")
        assert networks and "jarvis-net" in networks, name
        assert "test" in svc.get("healthcheck", {}), f"{name} has no health check"
    for name in ("stt", "tts", "brain", "hub", "web"):
        mounts = compose["services"][name]["volumes"]
        assert "data:/data" in mounts, name


def test_gpu_profile_reserves_the_nvidia_device(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for gpu_name, alias in (("stt-gpu", "stt"), ("tts-gpu", "tts"), ("ollama-gpu", "ollama")):
        svc = services[gpu_name]
        assert svc["profiles"] == ["gpu"]
        assert alias in svc["networks"]["jarvis-net"]["aliases"]
        devices = svc["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
        assert services[alias]["profiles"] == ["cpu"]
    assert (DEPLOY / ".env").read_text().strip() == "COMPOSE_PROFILES=cpu"


def _final_stage(dockerfile: Path) -> list[str]:
    lines = [ln.strip() for ln in dockerfile.read_text().splitlines()]
    starts = [i for i, ln in enumerate(lines) if ln.upper().startswith("FROM ")]
    return [ln for ln in lines[starts[-1] :] if ln and not ln.startswith("#")]


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfile_lint_user_and_entrypoint(name: str) -> None:
    dockerfile = DEPLOY / name
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

    final = _final_stage(dockerfile)
    text = "\n".join(final)
    user = [ln.split()[1] for ln in final if ln.startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("root", "0"), "final stage must not run as root"
    for tool in ("build-essential", "gcc", "g++", "python3-dev", "git "):
        assert tool not in text, f"{tool} in the runtime stage of {name}"
    assert 'ENTRYPOINT ["jarvis"]' in text
    cmd = next(ln for ln in final if ln.startswith("CMD "))
    _parse_jarvis(yaml.safe_load(cmd[4:]))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_satellite_unit_verifies(tmp_path: Path) -> None:
    unit = (DEPLOY / "satellite" / "jarvis-satellite.service").read_text()
    jarvis = Path(sys.executable).parent / "jarvis"
    assert "ExecStart=/opt/jarvis-satellite/venv/bin/jarvis satellite" in unit
    local = tmp_path / "jarvis-satellite.service"
    local.write_text(unit.replace("/opt/jarvis-satellite/venv/bin/jarvis", str(jarvis)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 on mere parse warnings: any complaint about our unit counts as a failure.
    complaints = [ln for ln in (result.stdout + result.stderr).splitlines() if local.name in ln]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr
    assert "Restart=on-failure" in unit and "SupplementaryGroups=audio" in unit
    assert re.search(r"^User=(?!root)\S+", unit, re.M)


def test_satellite_installer_is_valid_bash_and_its_flags_parse() -> None:
    script = DEPLOY / "satellite" / "install.sh"
    assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0
    _parse_jarvis(["satellite", "--server", "tcp://192.168.1.10:10600", "--area", "kitchen", "--name", "pi"])
