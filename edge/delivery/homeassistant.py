"""Home Assistant MQTT discovery: the sensor shows up as a device with three sensors.

Published (retained) by the publisher on every connect when ``mqtt.homeassistant_discovery`` is
on. The sensors read the retained status and stats topics, (visitors now is a count: stats), so Home
Assistant needs no polling;
availability follows the status topic's ``state`` (the last will turns it unavailable). The
Status sensor reads online, offline or camera_lost, so an automation (the health blueprint in
deploy/homeassistant/) can tell the assistant once when a sensor dies and once when it is back.
"""

from __future__ import annotations

import json
from typing import Any

from edge import __version__
from edge.delivery.mqtt import Topics

# online / offline / camera_lost (what deploy/homeassistant/dwell_sensor_health.yaml watches);
# any other state the sensor reports passes through as it is.
STATUS_TEMPLATE = (
    "{% if value_json.state == 'offline' %}offline"
    "{% elif value_json.camera_ok == false %}camera_lost"
    "{% else %}{{ value_json.state }}{% endif %}"
)


def discovery_messages(discovery_prefix: str, topics: Topics, store: str,
                       camera: str) -> list[tuple[str, bytes]]:
    """(topic, retained payload) for each sensor of this camera."""
    node = f"dwell_{store}_{camera}".replace("-", "_").replace(".", "_")
    device = {
        "identifiers": [node],
        "name": f"dwell {store} {camera}",
        "manufacturer": "dwell",
        "model": "dwell sensor",
        "sw_version": __version__,
    }
    availability = [{
        "topic": topics.status,
        "value_template": "{{ value_json.state }}",
        "payload_available": "online",
        "payload_not_available": "offline",
    }]
    sensors: list[dict[str, Any]] = [
        {"object_id": "visitors_now", "name": "Visitors now", "state_topic": topics.stats,
         "value_template": "{{ value_json.visitors_now }}", "state_class": "measurement",
         "icon": "mdi:account-multiple", "availability": availability},
        {"object_id": "pings_today", "name": "Pings today", "state_topic": topics.stats,
         "value_template": "{{ value_json.pings_today }}", "state_class": "total_increasing",
         "icon": "mdi:watch-vibrate", "availability": availability},
        # no availability: "offline" must show as a state (and trigger the health blueprint)
        {"object_id": "status", "name": "Status", "state_topic": topics.status,
         "value_template": STATUS_TEMPLATE, "icon": "mdi:cctv"},
    ]
    messages = []
    for sensor in sensors:
        object_id = sensor.pop("object_id")
        sensor["unique_id"] = f"{node}_{object_id}"
        sensor["device"] = device
        topic = f"{discovery_prefix}/sensor/{node}/{object_id}/config"
        messages.append((topic, json.dumps(sensor).encode()))
    return messages
