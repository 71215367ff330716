"""The tests' real mosquitto is the product's (edge/demo/mosquitto.py): one launcher."""

from edge.demo.mosquitto import MOSQUITTO, Mosquitto, free_port, wait_port

__all__ = ["MOSQUITTO", "Mosquitto", "free_port", "wait_port"]
