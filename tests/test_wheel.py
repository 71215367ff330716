"""A built wheel (not the editable checkout) processes video from any working directory.

The wheel is built from a copy of the package sources and unpacked into a folder that comes
first on PYTHONPATH, so the installed files, not the checkout, are what runs; `.ci/run` does the
same with a fresh venv and `pip install` of the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.clips import make_video
from tests.conftest import FOOTAGE, REPO


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as a wheel installs it: built from a copy, unpacked into a folder."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "edge", src / "edge", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(root / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (root / "dist").glob("dwell_sensor-*.whl")
    site = root / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def dwell(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    env["PYTHONPATH"] = str(site)
    env["XDG_DATA_HOME"] = str(cwd / "xdg")  # no models from the user's own data directory
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def test_wheel_ships_manifest_and_vendored_models(unpacked_wheel: Path) -> None:
    data = unpacked_wheel / "edge" / "perception" / "data"
    for name in ("manifest.toml", "ssdlite_pedestrian.pb", "ssdlite_pedestrian.pbtxt",
                 "LICENSE.ssdlite-pedestrian", "blazeface_short_range.tflite",
                 "LICENSE.blazeface"):
        assert (data / name).is_file(), f"{name} is not in the wheel"


def test_wheel_ships_the_consoles_page(unpacked_wheel: Path) -> None:
    static = unpacked_wheel / "edge" / "console" / "static"
    for name in ("index.html", "login.html", "app.js", "style.css"):
        assert (static / name).is_file(), f"console {name} is not in the wheel"
    code = ("from edge.console.api import static_file; "
            "print(static_file('app.js').body[:40])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    env["PYTHONPATH"] = str(unpacked_wheel)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=unpacked_wheel.parent, env=env, timeout=60)
    assert done.returncode == 0 and "dwell console" in done.stdout, done.stderr


def test_installed_wheel_lists_models_and_replays_video_elsewhere(
        unpacked_wheel: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tud = FOOTAGE / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4"
    clip = tud if tud.is_file() else make_video(tmp_path / "clip.avi")

    where = subprocess.run(  # the wheel's files run, not the editable checkout
        [sys.executable, "-c", "import edge; print(edge.__file__)"], capture_output=True,
        text=True, cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(unpacked_wheel)})
    assert where.stdout.strip().startswith(str(unpacked_wheel)), where.stdout + where.stderr

    listed = dwell(unpacked_wheel, elsewhere, "models", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert " ok " in rows["ssdlite-pedestrian"] and " ok " in rows["blazeface"], listed.stdout

    out = elsewhere / "events.jsonl"
    replayed = dwell(unpacked_wheel, elsewhere, "replay", str(clip), "--out", str(out))
    assert replayed.returncode == 0, replayed.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    if clip == tud:  # real people walk through this street: visits must start
        assert any(ev["type"] == "visit_start" for ev in events), events


def test_demo_video_without_its_model_says_so(tmp_path: Path) -> None:
    config = tmp_path / "dwell.toml"
    config.write_text(f'models_dir = "{tmp_path}"\n[detector]\nmodel = "yolox-nano"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "--config", str(config), "demo", "--broker", "private",
         "--video", str(make_video(tmp_path / "clip.avi"))],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "`dwell models install yolox-nano`" in done.stderr, done.stderr
