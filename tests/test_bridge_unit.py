"""deploy/systemd/dwell-bridge-ntfy.service and dwell-collect.service: hardened like
dwell.service, checked the same way (systemd-analyze verify and offline security), and their
ExecStart is a command dwell accepts."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.cli.main import build_parser
from tests.conftest import REPO

UNIT = REPO / "deploy" / "systemd" / "dwell-bridge-ntfy.service"
COLLECT_UNIT = REPO / "deploy" / "systemd" / "dwell-collect.service"
SENSOR_UNIT = REPO / "deploy" / "systemd" / "dwell.service"


def exposure(unit: Path) -> float | None:
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                              capture_output=True, text=True, timeout=60)
    match = re.search(rf"Overall exposure level for {re.escape(unit.name)}: (\d+\.\d+)",
                      security.stdout)
    return None if match is None else float(match.group(1))


def for_this_machine(unit: Path, tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at an executable that exists here (verify checks it)."""
    dwell = REPO / ".venv" / "bin" / "dwell"
    if not dwell.exists():
        dwell = Path(shutil.which("dwell") or "/bin/true")
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/dwell/venv/bin/dwell", str(dwell)))
    return copy


@pytest.mark.parametrize("unit_file, state_dir, command", [
    (UNIT, "dwell-bridge-ntfy", ("bridge", "ntfy", "/etc/dwell/dwell.toml")),
    (COLLECT_UNIT, "dwell-collect", ("collect", None, "/etc/dwell/collect.toml")),
], ids=["bridge", "collect"])
def test_unit_is_hardened_and_starts_its_command(unit_file: Path, state_dir: str,
                                                 command: tuple[str, str | None, str]) -> None:
    text = unit_file.read_text()
    for line in ["DynamicUser=yes", "ProtectSystem=strict", "PrivateDevices=yes",
                 "CapabilityBoundingSet=\n", "NoNewPrivileges=yes", "Restart=on-failure",
                 "RestartPreventExitStatus=2", f"StateDirectory={state_dir}"]:
        assert line in text, line
    assert re.search(r"^SystemCallFilter=@system-service", text, re.M)
    assert re.search(r"^RestrictAddressFamilies=", text, re.M)
    (exec_start,) = re.findall(r"^ExecStart=(.*)$", text, re.M)
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/dwell/venv/bin/dwell"
    args = build_parser().parse_args(argv[1:])  # a typo in the unit would exit here
    assert (args.command, getattr(args, "kind", None), args.config) == command


@pytest.mark.parametrize("unit_file", [UNIT, COLLECT_UNIT], ids=lambda p: p.stem)
def test_unit_verifies_and_is_no_more_exposed_than_the_sensor(tmp_path: Path,
                                                              unit_file: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = for_this_machine(unit_file, tmp_path)
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    bridge, sensor = exposure(unit), exposure(for_this_machine(SENSOR_UNIT, tmp_path))
    if bridge is None or sensor is None:
        pytest.skip("this systemd-analyze has no offline security")
    assert bridge <= min(sensor, 2.5), (bridge, sensor)
