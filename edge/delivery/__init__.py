"""Pings to the watch: MQTT client, publisher with its disk outbox, messages, acks, status."""
