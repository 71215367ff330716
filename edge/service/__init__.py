"""The live service: capture and processing threads, systemd integration, logging."""
