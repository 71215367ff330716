"""Runs under Home Assistant's own Python (the venv of tests/ha_venv.sh), never under dwell's.

Reads JSON on stdin: MQTT discovery messages (topic, payload), status payloads to render the
sensors' value templates against, and blueprints with the inputs an owner would pick. Validates
each with Home Assistant's own code and writes the errors (and rendered values) as JSON:

- discovery: the topic against HA's discovery topic matcher, the payload (abbreviations
  expanded as HA does) against the MQTT sensor platform's DISCOVERY_SCHEMA. That schema drops
  unknown keys silently (REMOVE_EXTRA), so a dropped key is reported as an error: HA would
  ignore a misspelt option without a word.
- blueprints: HA's YAML loader (!input), Blueprint (BLUEPRINT_SCHEMA, every !input declared),
  BlueprintInputs substitution, the automation PLATFORM_SCHEMA, each trigger against its
  platform's schema (mqtt, state, event) and each mobile_app device action against
  mobile_app's ACTION_SCHEMA.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from typing import Any

import voluptuous as vol
from homeassistant.components.automation.config import PLATFORM_SCHEMA
from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.components.homeassistant.triggers import state as state_trigger
from homeassistant.components.mobile_app import device_action as mobile_app_action
from homeassistant.components.mqtt import discovery
from homeassistant.components.mqtt import sensor as mqtt_sensor
from homeassistant.components.mqtt import trigger as mqtt_trigger
from homeassistant.components.mqtt.abbreviations import ABBREVIATIONS, DEVICE_ABBREVIATIONS
from homeassistant.const import __version__
from homeassistant.core import HomeAssistant
from homeassistant.helpers.template import Template
from homeassistant.util.yaml import load_yaml

TRIGGER_SCHEMAS = {
    "mqtt": mqtt_trigger.TRIGGER_SCHEMA,
    "state": state_trigger.TRIGGER_STATE_SCHEMA,
    "event": event_trigger.TRIGGER_SCHEMA,
}


def check_discovery(hass: HomeAssistant, prefix: str, topic: str, text: str,
                    samples: dict[str, Any]) -> dict[str, Any]:
    errors: list[str] = []
    match = discovery.TOPIC_MATCHER.match(topic.replace(f"{prefix}/", "", 1))
    if not match:
        errors.append(f"not a discovery topic HA accepts: {topic}")
    elif match.group(1) not in discovery.SUPPORTED_COMPONENTS:
        errors.append(f"component {match.group(1)} is not supported")
    payload = {ABBREVIATIONS.get(k, k): v for k, v in json.loads(text).items()}
    if isinstance(payload.get("device"), dict):
        payload["device"] = {DEVICE_ABBREVIATIONS.get(k, k): v
                             for k, v in payload["device"].items()}
    rendered: dict[str, Any] = {}
    try:
        validated = mqtt_sensor.DISCOVERY_SCHEMA(dict(payload))
    except vol.Invalid as exc:
        errors.append(f"DISCOVERY_SCHEMA: {exc}")
        validated = {}
    else:
        dropped = sorted(set(payload) - set(validated))
        if dropped:
            errors.append(f"keys HA ignores: {dropped}")
        template = validated.get("value_template")
        if template is not None:
            tpl = Template(template.template, hass)
            for name, status in samples.items():
                rendered[name] = tpl.async_render_with_possible_json_value(
                    json.dumps(status), None)
    return {"topic": topic, "errors": errors, "rendered": rendered}


def device_actions(actions: list[Any]) -> list[dict[str, Any]]:
    """Every device action, also inside choose/sequence/default."""
    found = []
    for action in actions:
        if not isinstance(action, dict):
            continue
        if "device_id" in action and "domain" in action:
            found.append(action)
        for option in action.get("choose", []):
            found += device_actions(option.get("sequence", []))
        found += device_actions(action.get("default", []))
        found += device_actions(action.get("sequence", []))
    return found


def check_blueprint(path: str, inputs: dict[str, Any]) -> dict[str, Any]:
    errors: list[str] = []
    try:
        blueprint = Blueprint(load_yaml(path), path=path, expected_domain="automation")
        config = BlueprintInputs(blueprint, {"use_blueprint": {"path": "dwell/x.yaml",
                                                               "input": inputs}})
        config.validate()
        automation = PLATFORM_SCHEMA(config.async_substitute())
    except Exception as exc:  # each is a finding to report, not a crash of the checker
        return {"path": path, "errors": [f"{type(exc).__name__}: {exc}"]}
    for trigger in automation["trigger"]:
        schema = TRIGGER_SCHEMAS.get(trigger["platform"])
        if schema is None:
            errors.append(f"trigger platform {trigger['platform']} not checked here")
            continue
        try:
            schema(trigger)
        except vol.Invalid as exc:
            errors.append(f"{trigger['platform']} trigger: {exc}")
    for action in device_actions(automation["action"]):
        try:
            mobile_app_action.ACTION_SCHEMA(action)
        except vol.Invalid as exc:
            errors.append(f"mobile_app action: {exc}")
    return {"path": path, "errors": errors,
            "triggers": len(automation["trigger"]),
            "device_actions": len(device_actions(automation["action"]))}


async def main() -> None:
    request = json.load(sys.stdin)
    hass = HomeAssistant(tempfile.mkdtemp())
    try:
        result = {
            "ha_version": __version__,
            "discovery": [check_discovery(hass, request["discovery_prefix"], topic, text,
                                          request.get("status_samples", {}))
                          for topic, text in request["discovery"]],
            "blueprints": [check_blueprint(b["path"], b["inputs"])
                           for b in request["blueprints"]],
        }
    finally:
        await hass.async_stop(force=True)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
