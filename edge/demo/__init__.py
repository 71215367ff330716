"""The newcomer's demo: a synthetic shop and a small embedded MQTT broker."""
