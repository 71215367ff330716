"""Ways for pings to reach watches that do not speak MQTT: ntfy, Home Assistant."""
