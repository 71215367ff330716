"""Frames to people: sources, the motion gate, the person detector, head yaw, model files."""
