"""People to decisions: tracker, visits, zones, the give-them-space policy, the pipeline
that wires them. Loads neither OpenCV nor paho, so a trace replays without either."""
