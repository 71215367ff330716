"""A stand-in for the assistant's watch: shows each ping, taps "on my way" on the first one.

It speaks MQTT like a real watch bridge would (subscribes to the ping topic, answers on the ack
topic), so the demo's ack really travels back over the broker to the policy.
"""

from __future__ import annotations

import json
from typing import Any

import paho.mqtt.client as mqtt

from edge.delivery.acks import ack_payload
from edge.delivery.mqtt import Topics
from edge.demo.narrator import Narrator

CLEAR_TIMEOUT_S = 5.0


class DemoWatch:
    """Subscribed to ``topics.ping`` on ``host:port`` from construction until ``close``."""

    def __init__(self, host: str, port: int, topics: Topics, narrator: Narrator) -> None:
        self.topics = topics
        self.narrator = narrator
        self.pings: list[dict[str, Any]] = []
        self.acked: str | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe(topics.ping, qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        data = json.loads(msg.payload)
        self.pings.append(data)
        width = max(len(data["title"]), len(data["message"])) + 2
        self.narrator.say("watch buzzes:\n"
                          f"        +{'-' * width}+\n"
                          f"        | {data['title']:<{width - 2}} |\n"
                          f"        | {data['message']:<{width - 2}} |\n"
                          f"        +{'-' * width}+")
        if self.acked is None:
            self.acked = data["id"]
            self.narrator.say("the assistant taps 'On my way' on the watch")
            client.publish(self.topics.ack, ack_payload(data["id"], "on_my_way", "demo watch"),
                           qos=1)

    def clear_retained(self) -> None:
        """Empties the retained status and stats the demo's sensor left on the broker (an
        empty retained payload deletes a retained message), so nothing of it stays behind."""
        for topic in (self.topics.status, self.topics.stats):
            info = self.client.publish(topic, b"", qos=1, retain=True)
            info.wait_for_publish(CLEAR_TIMEOUT_S)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
