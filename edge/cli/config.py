"""`dwell config check|show`: validate a config file, or print the effective configuration."""

from __future__ import annotations

import argparse
import json

from edge.cli.common import EXIT_OK, load
from edge.config.render import default_config_text, to_toml
from edge.config.settings import Settings, masked_dict, resolve_config_path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="check or show the configuration")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="exit 0 when the config (and environment) is valid")
    check.add_argument("file", nargs="?", help="config file (default: as for every command)")
    check.set_defaults(func=check_config)
    show = actions.add_parser("show", help="print the effective config, secrets masked")
    show.add_argument("file", nargs="?", help="config file (default: as for every command)")
    show.add_argument("--json", action="store_true", help="JSON instead of TOML")
    show.set_defaults(func=show_config)
    default = actions.add_parser("default", help="print the documented default config")
    default.set_defaults(func=print_default)


def _load(args: argparse.Namespace) -> Settings:
    """The settings of FILE (else --config, $DWELL_CONFIG, ./config/dwell.toml); exits 2
    naming a bad key."""
    return load(args, config_path=args.file or args.config)


def check_config(args: argparse.Namespace) -> int:
    settings = _load(args)
    path = resolve_config_path(args.file or args.config)
    print(f"{path or '(defaults, no file)'}: ok ({len(settings.zones)} zones, "
          f"detector {settings.detector.model})")
    return EXIT_OK


def show_config(args: argparse.Namespace) -> int:
    settings = _load(args)
    data = masked_dict(settings)
    path = resolve_config_path(args.file or args.config)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"# effective configuration: {path or 'defaults'} + DWELL_* environment")
        print(to_toml(data), end="")
    return EXIT_OK


def print_default(args: argparse.Namespace) -> int:
    print(default_config_text(), end="")
    return EXIT_OK
