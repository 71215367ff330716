"""`dwell config check|show`: validate a config file, or print the effective configuration."""

from __future__ import annotations

import argparse
import json
import sys

from edge.cli.common import EXIT_FAILURE, EXIT_OK, load
from edge.config.render import default_config_text, to_toml
from edge.config.settings import Settings, masked_dict, resolve_config_path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="check or show the configuration")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="exit 0 when the config (and environment) is valid and the world fits it",
        description="Exit 0: valid, and the detector model is installed and state_dir is "
        "writable (or can be created); 1: valid, but one of those (or --probe) failed; 2: the "
        "configuration or environment is invalid.")
    check.add_argument("file", nargs="?", help="config file (default: as for every command)")
    check.add_argument("--probe", action="store_true",
                       help="also open the configured source and read one frame (takes the "
                       "camera for a moment; refused while a `dwell run` holds it)")
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
    from edge.service.preflight import check_world

    settings = _load(args)
    path = resolve_config_path(args.file or args.config)
    print(f"{path or '(defaults, no file)'}: ok ({len(settings.zones)} zones, "
          f"detector {settings.detector.model})")
    failed = 0
    for check in check_world(settings, probe=args.probe):
        print(f"  {check.name}: {'ok' if check.ok else 'FAILED'}: {check.detail}",
              file=sys.stdout if check.ok else sys.stderr)
        failed += not check.ok
    if failed:
        print(f"dwell config check: the configuration is valid, but {failed} check(s) of this "
              "machine failed (above)", file=sys.stderr)
        return EXIT_FAILURE
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
