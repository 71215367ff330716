"""Subcommands of `dwell`: each module has ``register(subparsers)`` setting ``func``."""
