#!/usr/bin/env bash
# Builds (once) the separate venv holding Home Assistant, used only by tests/test_homeassistant_schema.py
# to validate our MQTT discovery payloads and blueprints with Home Assistant's own schema code.
# Never a runtime dependency of dwell. Prints the venv's python on success.
#   tests/ha_venv.sh            build if missing (a few minutes the first time), else instant
#   DWELL_HA_VENV=DIR           where the venv lives (default ~/.cache/dwell/ha-<version>)
# 2024.3.3 is the newest homeassistant on PyPI that installs on Python 3.11 (2024.4 needs 3.12).
# HA installs an integration's requirements when it loads it; we import the schemas directly, so
# the venv gets them up front, pinned as 2024.3.3's manifests pin them: mqtt (paho-mqtt), and
# what importing mobile_app pulls in (cloud, stream, conversation, tts, ffmpeg). josepy 2 removed
# ComparableX509, which that release's acme (through hass-nabucasa) still imports.
set -euo pipefail
HA_VERSION=${DWELL_HA_VERSION:-2024.3.3}
VENV=${DWELL_HA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dwell/ha-$HA_VERSION}
PYTHON=${DWELL_HA_PYTHON:-python3.11}

if [ -f "$VENV/.complete" ]; then
    echo "$VENV/bin/python"
    exit 0
fi
command -v "$PYTHON" >/dev/null || { echo "ha_venv.sh: $PYTHON not found" >&2; exit 1; }
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >&2
"$VENV/bin/python" -m pip install -q "homeassistant==$HA_VERSION" "paho-mqtt==1.6.1" \
    "josepy<2" numpy==1.26.0 PyTurboJPEG==1.7.1 PyNaCl==1.5.0 hassil==1.6.1 \
    home-assistant-intents==2024.3.12 mutagen==1.47.0 ha-ffmpeg==3.1.0 >&2
"$VENV/bin/python" -c 'import homeassistant.components.blueprint.schemas
import homeassistant.components.mqtt.sensor
import homeassistant.components.mobile_app.device_action' >&2
touch "$VENV/.complete"  # only a venv that finished installing is used by the tests
echo "$VENV/bin/python"
