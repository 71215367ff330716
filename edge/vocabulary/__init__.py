"""The shared vocabulary: typed frames, detections, tracks, events, errors and the stage
interfaces. Imports no other edge module."""
