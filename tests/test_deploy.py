"""deploy/: the install script, the hardened unit and the bridge to a central broker."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.broker import Mosquitto
from tests.conftest import REPO

INSTALL = REPO / "deploy" / "install.sh"
UNIT = REPO / "deploy" / "systemd" / "dwell.service"
BRIDGE = REPO / "deploy" / "mosquitto" / "bridge-to-central.conf"


def test_install_script_is_shellcheck_clean() -> None:
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    result = subprocess.run(["shellcheck", str(INSTALL)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("camera, release, venv_words, not_words", [
    ("usb", "trixie", ["python3 -m venv /", "opencv-python-headless>=5,<6"], ["numpy<2"]),
    # Trixie's picamera2 is built against numpy 2: OpenCV 5 beside it, nothing pinned back
    ("csi", "trixie", ["--system-site-packages", "opencv-python-headless>=5,<6",
                       "python3-picamera2"], ["numpy<2", "4.11"]),
    # Bookworm's is built against numpy 1.24: OpenCV 4.11 with numpy < 2
    ("csi", "bookworm", ["--system-site-packages", "numpy<2", "opencv-python-headless==4.11.0.86",
                         "python3-picamera2"], [">=5,<6"]),
])
def test_dry_run_lists_every_step_and_changes_nothing(tmp_path: Path, camera: str, release: str,
                                                      venv_words: list[str],
                                                      not_words: list[str]) -> None:
    prefix = tmp_path / "opt"
    result = subprocess.run(
        ["bash", str(INSTALL), "--dry-run", "--camera", camera, "--release", release,
         "--with-mosquitto", "--prefix", str(prefix)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for words in ["apt packages:", "mosquitto", *venv_words, "-e " + str(prefix / "src"),
                  "/etc/dwell/dwell.toml", "/var/lib/dwell", "/etc/systemd/system/dwell.service",
                  "systemctl enable dwell.service", "dry run: nothing was changed",
                  "What you do next", "zones --snapshot"]:
        assert words in out, f"{words!r} missing from the dry run:\n{out}"
    for words in not_words:
        assert words not in out, f"{words!r} should not be in the {release} dry run:\n{out}"
    assert len(re.findall(r"^\[\d+\] ", out, re.M)) >= 6
    assert not prefix.exists()


def test_release_is_read_from_os_release(tmp_path: Path) -> None:
    os_release = Path("/etc/os-release")
    if not os_release.is_file():
        pytest.skip("this machine has no /etc/os-release")
    codename = re.search(r"^VERSION_CODENAME=\"?(\w*)", os_release.read_text(), re.M)
    result = subprocess.run(["bash", str(INSTALL), "--dry-run", "--camera", "csi", "--prefix",
                             str(tmp_path / "opt")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    found = codename.group(1) if codename else ""
    assert f"release: {found or 'unknown'} (from /etc/os-release" in result.stdout
    pinned = "numpy<2" in result.stdout
    assert pinned == (found == "bookworm"), result.stdout


def test_config_holding_the_password_is_installed_0640_for_the_service_group() -> None:
    result = subprocess.run(["bash", str(INSTALL), "--dry-run", "--camera", "usb"],
                            capture_output=True, text=True, timeout=60)
    out = result.stdout
    assert re.search(r"\+ install -m 0640 -o root -g dwell \S+ /etc/dwell/dwell.toml", out), out
    assert not re.search(r"install -m 0644 \S+ /etc/dwell/dwell.toml", out), out
    # the service's dynamic user reads it through that group
    assert re.search(r"^SupplementaryGroups=.*\bdwell\b", UNIT.read_text(), re.M)


def test_the_console_may_save_the_config_and_nothing_else_outside_the_state_dir() -> None:
    """ProtectSystem=strict leaves /etc read-only; the console's saves (a new file in
    /etc/dwell renamed over dwell.toml) need that one directory, writable by the dwell
    group only (setgid, so saved files stay in the group)."""
    writable = re.findall(r"^ReadWritePaths=(.*)$", UNIT.read_text(), re.M)
    assert writable == ["/etc/dwell"]
    out = subprocess.run(["bash", str(INSTALL), "--dry-run", "--camera", "usb"],
                         capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"\+ install -d -m 2775 -o root -g dwell /etc/dwell$", out, re.M), out


def test_install_script_refuses_unknown_options() -> None:
    result = subprocess.run(["bash", str(INSTALL), "--frobnicate"], capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert "--frobnicate" in result.stderr


def _unit_for_this_machine(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at an executable that exists here (verify checks it)."""
    dwell = REPO / ".venv" / "bin" / "dwell"
    if not dwell.exists():
        dwell = Path(shutil.which("dwell") or "/bin/true")
    unit = tmp_path / "dwell.service"
    unit.write_text(UNIT.read_text().replace("/opt/dwell/venv/bin/dwell", str(dwell)))
    return unit


def test_unit_has_the_hardening_the_issue_asks_for() -> None:
    text = UNIT.read_text()
    for line in ["Type=notify", "Restart=on-failure", "DynamicUser=yes",
                 "SupplementaryGroups=video", "StateDirectory=dwell", "ProtectSystem=strict",
                 "CapabilityBoundingSet=\n", "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP"]:
        assert line in text, line
    assert re.search(r"^WatchdogSec=\d+", text, re.M)
    assert re.search(r"^RestrictAddressFamilies=", text, re.M)
    assert re.search(r"^SystemCallFilter=", text, re.M)
    assert not re.search(r"^PrivateDevices=yes", text, re.M)  # it would hide the camera


def test_unit_verifies_and_exposure_is_at_most_2_5(tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = _unit_for_this_machine(tmp_path)
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                              capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for dwell.service: (\d+\.\d+)", security.stdout)
    if match is None:
        pytest.skip(f"this systemd-analyze has no offline security: {security.stderr[:200]}")
    assert float(match.group(1)) <= 2.5


def _bridge_config(central_port: int) -> str:
    """The shipped bridge, pointed at a local broker without TLS or login (test only)."""
    lines = []
    for line in BRIDGE.read_text().splitlines():
        if line.startswith(("bridge_cafile", "bridge_insecure", "remote_username",
                            "remote_password")):
            continue
        if line.startswith("address "):
            line = f"address 127.0.0.1:{central_port}"
        lines.append(line)
    return "\n".join(lines)


def test_bridge_forwards_status_and_stats_but_not_acks(
        broker_factory: Callable[..., Mosquitto]) -> None:
    central = broker_factory()
    shop = broker_factory(extra_config=_bridge_config(central.port))
    received: list[tuple[str, bytes]] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: received.append((m.topic, m.payload))
    sub.connect("127.0.0.1", central.port)
    sub.subscribe("dwell/#", qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", shop.port)
    pub.loop_start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                t == "dwell/_bridge/shop1/state" for t, _ in received):
            time.sleep(0.05)  # the bridge announces itself once connected
        pub.publish("dwell/shop1/entrance/ack", b'{"ping":"x"}', qos=1).wait_for_publish(5)
        pub.publish("dwell/shop1/entrance/status", b'{"state":"online"}', qos=1,
                    retain=True).wait_for_publish(5)
        pub.publish("dwell/shop1/entrance/stats", b'{"visitors":1}', qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(t.endswith("stats") for t, _ in received):
            time.sleep(0.05)
    finally:
        pub.loop_stop()
        sub.loop_stop()
    topics = [t for t, _ in received]
    assert "dwell/shop1/entrance/status" in topics
    assert "dwell/shop1/entrance/stats" in topics
    assert "dwell/shop1/entrance/ack" not in topics
