"""`dwell models list|install`: which model files are installed where, and installing them."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.cli.common import EXIT_OK, EXIT_USAGE, CommandError, load

INSTALL = "models install"  # how its errors name the command


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("models", help="list or install model files")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("list", help="each known model: where it is installed, sha ok?")
    show.set_defaults(func=list_models)
    inst = actions.add_parser("install", help="install a model, verifying its sha256")
    inst.add_argument("name", help="model name from the manifest (see `dwell models list`), "
                      "e.g. yolox-nano")
    inst.add_argument("--from", dest="source", metavar="DIR", type=Path,
                      help="copy from this folder instead of downloading the official file")
    inst.add_argument("--to", dest="dest", metavar="DIR", type=Path,
                      help="install here (default: the models_dir setting, else the user "
                      "data directory)")
    inst.set_defaults(func=install_model)


def list_models(args: argparse.Namespace) -> int:
    from edge.perception.models import ModelError, list_installed, load_manifest, search_dirs

    settings = load(args)
    try:
        specs = load_manifest()
        rows = list_installed(settings.models_dir)
    except ModelError as exc:
        raise CommandError(str(exc)) from None
    print("looked in: " + ", ".join(str(d) for d in search_dirs(settings.models_dir)))
    for row in rows:
        model = specs[row.name]
        if row.path is None:
            state, where = "missing", f"(dwell models install {row.name})"
        else:
            state, where = ("ok" if row.sha_ok else "BAD SHA256"), str(row.path)
        print(f"{row.name:20s} {model.task:7s} {model.licence:11s} {state:10s} {where}")
    return EXIT_OK


def install_model(args: argparse.Namespace) -> int:
    from edge.perception.models import ModelError, install, load_manifest, user_models_dir

    settings = load(args)
    try:
        known = load_manifest()
    except ModelError as exc:
        raise CommandError(str(exc)) from None
    if args.name not in known:
        raise CommandError(f"unknown model {args.name!r}; known: {', '.join(sorted(known))}",
                           EXIT_USAGE, INSTALL)
    if args.source is not None and not args.source.is_dir():
        raise CommandError(f"--from {args.source}: not a directory", EXIT_USAGE, INSTALL)
    dest = args.dest or settings.models_dir or user_models_dir()
    try:
        path = install(args.name, dest, args.source)
    except ModelError as exc:
        raise CommandError(str(exc), command=INSTALL) from None
    print(f"installed {args.name}: {path} (sha256 ok)")
    if args.name == "yolox-nano":
        _convert_for_ncnn(path)
    return EXIT_OK


def _convert_for_ncnn(path: Path) -> None:
    """The ncnn runtime's model, when pnnx and ncnn are installed (optional: a note if not)."""
    from edge.perception.ncnn_model import SIZES, NcnnUnavailable, convert, pnnx_command

    if pnnx_command() is None:
        print("ncnn runtime: not converted (pip install ncnn pnnx, then install again)")
        return
    for size in SIZES:
        try:
            param, _ = convert(path, size)
        except NcnnUnavailable as exc:
            print(f"ncnn runtime @{size}: not converted: {exc}")
        else:
            print(f"ncnn runtime @{size}: {param} (output verified against the ONNX model)")
