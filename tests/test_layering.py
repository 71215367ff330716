"""The import rules between edge's sub-packages, read from the source with ``ast``.

Every import counts, including ones inside functions and under ``TYPE_CHECKING``: a lazy
import is still a dependency, only a later one. The runtime check below covers what a static
parse cannot: that a trace replay really never loads OpenCV.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EDGE = ROOT / "edge"
STAGES = ("perception", "behaviour", "delivery")

# package -> the edge packages it may import (itself always); None: any but the CLI
ALLOWED: dict[str, set[str] | None] = {
    "vocabulary": set(),
    "config": {"vocabulary"},
    "perception": {"config", "vocabulary"},
    "behaviour": {"config", "vocabulary"},
    "delivery": {"config", "vocabulary"},
    "bridges": {"delivery", "config", "vocabulary"},
    # the owner's console: shows what the stages decided, never drives a camera itself
    "console": {"config", "vocabulary", "offline", "behaviour", "delivery"},
    "fleet": {"delivery", "config", "vocabulary"},
}
# package -> third-party top-level modules it must not import
FORBIDDEN_LIBS: dict[str, set[str]] = {
    "vocabulary": {"cv2", "paho"},
    "config": {"cv2", "paho"},
    "behaviour": {"cv2", "paho"},
}


def imports_of(source: str) -> Iterator[tuple[int, str]]:
    """(line, dotted module) of every import in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # "from edge import cli" imports edge.cli
                if node.module == "edge" and (EDGE / alias.name).is_dir():
                    yield node.lineno, f"edge.{alias.name}"


def package_of(path: Path) -> str:
    parts = path.relative_to(EDGE).parts
    return parts[0] if len(parts) > 1 else ""


def violations(path: Path, source: str) -> list[str]:
    """Every forbidden import in one file of edge/, as 'file:line: what' lines."""
    pkg = package_of(path)
    where = path.relative_to(ROOT)
    found = []
    for line, module in imports_of(source):
        top, _, rest = module.partition(".")
        target = rest.split(".")[0] if top == "edge" else ""
        if top == "edge" and target == "cli" and pkg != "cli":
            found.append(f"{where}:{line}: imports the CLI ({module})")
        allowed = ALLOWED.get(pkg)
        if top == "edge" and target and target != pkg and allowed is not None \
                and target not in allowed:
            found.append(f"{where}:{line}: {pkg} imports {module} (allowed: "
                         f"{', '.join(sorted(allowed)) or 'nothing of edge'})")
        if top in FORBIDDEN_LIBS.get(pkg, set()):
            found.append(f"{where}:{line}: {pkg} imports {module}")
    return found


def all_violations() -> list[str]:
    return [v for path in sorted(EDGE.rglob("*.py"))
            for v in violations(path, path.read_text(encoding="utf-8"))]


def test_the_tree_keeps_the_import_rules() -> None:
    assert all_violations() == []


@pytest.mark.parametrize(("file", "line", "complaint"), [
    ("vocabulary/types.py", "from edge.config.sections import SourceConfig", "vocabulary"),
    ("config/sections.py", "from edge.delivery.mqtt import Topics", "config imports"),
    ("behaviour/policy.py", "from edge.perception.motion import MotionGate", "behaviour"),
    ("behaviour/tracker.py", "import cv2", "behaviour imports cv2"),
    ("behaviour/pipeline.py", "    import paho.mqtt.client", "behaviour imports paho"),
    ("perception/detector.py", "from edge.behaviour.zones import ZoneMap", "perception"),
    ("delivery/status.py", "from edge.behaviour import pipeline", "delivery"),
    ("bridges/ntfy.py", "from edge.service.live import Service", "bridges"),
    ("service/live.py", "from edge.cli.common import load", "imports the CLI"),
    ("offline/replay.py", "from edge import cli", "imports the CLI"),
    ("console/api.py", "from edge.service.live import Service", "console imports"),
    ("console/server.py", "from edge.cli.console import run", "imports the CLI"),
])
def test_a_forbidden_import_is_caught(file: str, line: str, complaint: str) -> None:
    path = EDGE / file
    source = path.read_text(encoding="utf-8") + f"\nif False:\n    {line.strip()}\n"
    found = violations(path, source)
    assert found and complaint in found[0], found


def test_a_trace_replay_never_loads_opencv(tmp_path: Path) -> None:
    """A trace replay in a fresh interpreter: the library loads neither cv2 nor paho, and the
    whole CLI path (whose parser knows `watch` and `bridge`, which need paho) no cv2."""
    config, trace = ROOT / "tests/data/golden.toml", ROOT / "tests/data/golden_trace.jsonl"
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "def loaded(*tops):\n"
        "    return sorted(m for m in sys.modules if m.split('.')[0] in tops)\n"
        "from edge.config.settings import load_settings\n"
        "from edge.offline.replay import replay\n"
        f"replay(Path({str(trace)!r}), load_settings({str(config)!r}))\n"
        "print('LIBRARY', loaded('cv2', 'paho'))\n"
        "from edge.cli.main import main\n"
        f"rc = main(['--config', {str(config)!r}, 'replay', {str(trace)!r}, '--out', "
        f"{str(tmp_path / 'ev.jsonl')!r}])\n"
        "assert rc == 0, rc\n"
        "print('CLI', loaded('cv2'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "LIBRARY []" in done.stdout and "CLI []" in done.stdout, done.stdout
