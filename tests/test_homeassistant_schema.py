"""Our Home Assistant discovery payloads and blueprints, validated by Home Assistant's own
schema code (tests/ha_check.py, run in the separate venv that tests/ha_venv.sh builds: HA is
never a dependency of dwell). Skipped, with the reason, where that venv has not been built."""

from __future__ import annotations

import json
import os
import subprocess
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from edge.delivery.homeassistant import discovery_messages
from edge.delivery.mqtt import Topics
from edge.delivery.status import StatusSnapshot, status_payload
from tests.conftest import REPO

HA_VERSION = "2024.3.3"
BLUEPRINTS = REPO / "deploy" / "homeassistant"
INPUTS = {
    "dwell_ping_to_watch.yaml": {"notify_device": "0123456789abcdef0123456789abcdef"},
    "dwell_sensor_health.yaml": {"notify_device": "0123456789abcdef0123456789abcdef",
                                 "status_entity": "sensor.dwell_shop_entrance_status"},
}


def ha_python() -> Path:
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    venv = Path(os.environ.get("DWELL_HA_VENV", cache_dir / "dwell" / f"ha-{HA_VERSION}"))
    if not (venv / ".complete").exists():
        pytest.skip(f"no Home Assistant venv at {venv}: build it once with tests/ha_venv.sh "
                    "(1.5-4 min; needs Python 3.11 and PyPI)")
    return venv / "bin" / "python"


def check(request: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run([str(ha_python()), str(REPO / "tests" / "ha_check.py")],
                          input=json.dumps(request), capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


SAMPLES = {
    "online": status_payload("online", StatusSnapshot(True, 12.0, 2), time.time()),
    "last_will": status_payload("offline", None, None, "connection lost"),
    "camera_lost": status_payload("online", StatusSnapshot(False, 0.0, 0), time.time()),
}


@cache
def ours() -> dict[str, Any]:
    messages = discovery_messages("homeassistant", Topics.of("dwell", "shop", "entrance"),
                                  "shop", "entrance")
    return check({
        "discovery_prefix": "homeassistant",
        "discovery": [(topic, payload.decode()) for topic, payload in messages],
        "status_samples": SAMPLES,
        "blueprints": [{"path": str(BLUEPRINTS / name), "inputs": inputs}
                       for name, inputs in INPUTS.items()],
    })


def test_discovery_payloads_pass_the_mqtt_sensor_schema() -> None:
    result = ours()
    assert result["ha_version"] == HA_VERSION
    assert len(result["discovery"]) == 3
    for sensor in result["discovery"]:
        assert sensor["errors"] == [], sensor


def test_the_status_sensor_reads_online_offline_camera_lost() -> None:
    by_topic = {s["topic"].split("/")[-2]: s["rendered"] for s in ours()["discovery"]}
    assert by_topic["status"] == {"online": "online", "last_will": "offline",
                                  "camera_lost": "camera_lost"}
    # visitors now is a count: it reads the stats topic, not the state-only status
    messages = discovery_messages("homeassistant", Topics.of("dwell", "shop", "entrance"),
                                  "shop", "entrance")
    configs = {t.split("/")[-2]: json.loads(p) for t, p in messages}
    assert configs["visitors_now"]["state_topic"].endswith("/stats")


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_blueprints_pass_home_assistants_schemas(name: str) -> None:
    (found,) = [b for b in ours()["blueprints"] if b["path"].endswith(name)]
    assert found["errors"] == [], found
    assert found["triggers"] >= 2 and found["device_actions"] >= 1


def test_the_checker_does_find_mistakes(tmp_path: Path) -> None:
    """A checker that passes everything proves nothing: these must be refused."""
    bad_payload = {"name": "x", "state_topic": "dwell/s/c/status", "state_class": "sometimes",
                   "unique_id": "u"}
    misspelt = {"name": "x", "state_topic": "dwell/s/c/status", "value_tempalte": "{{ 1 }}"}
    broken = tmp_path / "broken.yaml"
    broken.write_text((BLUEPRINTS / "dwell_sensor_health.yaml").read_text().replace(
        "device_id: !input notify_device", "device_id: !input phone"))
    wrong_trigger = tmp_path / "wrong_trigger.yaml"
    wrong_trigger.write_text((BLUEPRINTS / "dwell_sensor_health.yaml").read_text().replace(
        "not_from: [unknown, unavailable]", "from: [unknown]\n    not_from: [unavailable]"))
    result = check({
        "discovery_prefix": "homeassistant",
        "discovery": [("homeassistant/sensor/n/a/config", json.dumps(bad_payload)),
                      ("homeassistant/sensor/n/b/config", json.dumps(misspelt)),
                      ("homeassistant/sensor/n b/c/config", json.dumps({"state_topic": "t"}))],
        "blueprints": [{"path": str(broken), "inputs": INPUTS["dwell_sensor_health.yaml"]},
                       {"path": str(wrong_trigger),
                        "inputs": INPUTS["dwell_sensor_health.yaml"]}],
    })
    errors = [s["errors"] for s in result["discovery"]]
    assert "state_class" in errors[0][0]
    assert errors[1] == ["keys HA ignores: ['value_tempalte']"]
    assert "not a discovery topic" in errors[2][0]
    assert "Missing input definition for phone" in result["blueprints"][0]["errors"][0]
    assert result["blueprints"][1]["errors"], result["blueprints"][1]
